"""HubSpot against answers nobody here wrote (tests/contracts/hubspot/SOURCES.md): every
stream of the connector fed the recorded and documented answers, and the sandbox's answers
held against the same ones, key for key and type for type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from builders import HUBSPOT, RecordedSleep, sandbox_settings
from shapes import assert_same_shape, body, recorded_answer

from connectors.http import ApiError, AuthError
from connectors.hubspot.client import (
    ARCHIVED_DEALS,
    COMPANIES,
    DEALS,
    HubSpotConnector,
    deal_from_raw,
)
from connectors.hubspot.lookup import capabilities
from connectors.hubspot.notes import HubSpotNotes
from sandbox.server import start_sandbox

VENDOR = "hubspot"


def answer(name: str) -> tuple[int, dict[str, str], str]:
    return recorded_answer(VENDOR, name)


def replies(*names: str) -> Any:
    """A callback answering each call with the next fixture (the last one again after)."""
    queue = list(names)

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        return answer(queue.pop(0) if len(queue) > 1 else queue[0])

    return reply


def serve_portal(rsps: responses.RequestsMock) -> None:
    """Every route a pull reads, answered with the fixtures."""
    rsps.add_callback("GET", f"{HUBSPOT}/crm/v3/properties/deals", replies("properties_deals"))
    rsps.add_callback("GET", f"{HUBSPOT}/account-info/v3/details", replies("account_details"))
    rsps.add_callback("GET", f"{HUBSPOT}/crm/v3/objects/companies", replies("companies_page"))
    rsps.add_callback(
        "POST",
        f"{HUBSPOT}/crm/v3/objects/deals/search",
        replies("deals_search_page", "deals_search_last_page"),
    )
    rsps.add_callback(
        "POST",
        f"{HUBSPOT}/crm/v4/associations/deals/companies/batch/read",
        replies("associations_batch_read"),
    )
    rsps.add_callback(
        "GET", f"{HUBSPOT}/crm/v3/objects/deals", replies("deals_list_page", "deals_archived")
    )


def pulled(connector: HubSpotConnector) -> dict[str, list[Any]]:
    pages: dict[str, list[Any]] = {}
    for page in connector.pull(lambda stream: None):
        pages.setdefault(page.stream, []).append(page)
    return pages


# -- (a) the connector, fed the vendor's answers ---------------------------------------------


def test_a_pull_reads_every_stream_of_the_recorded_answers(rsps: responses.RequestsMock) -> None:
    """Companies, deals (two search pages, the opaque `after`, the last page without
    `paging`), their companies through v4 associations, and archived deals as deletes."""
    serve_portal(rsps)
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())

    pages = pulled(connector)

    companies = {a.id: a for p in pages[COMPANIES] for a in p.records}
    assert companies["9001"].name == "Müller & Söhne GmbH"
    assert companies["9001"].domains == ("mueller-soehne.example",)
    assert companies["9002"].domains == () and companies["9002"].revenue is None
    assert pages[COMPANIES][-1].complete_ids == {"9001", "9002"}

    deals = {d.id: d for p in pages[DEALS] for d in p.records}
    assert not [letter for p in pages[DEALS] for letter in p.dead]
    eur, blank = deals["512"], deals["513"]
    # Summed in the company currency: amount_in_home_currency, named by account-info.
    assert (eur.amount, eur.currency) == (Decimal("1620.54"), "EUR")
    assert eur.account_ids == ("9001",)
    assert eur.close_date == datetime(2019, 12, 7, 16, 50, 6, 678000, tzinfo=UTC)
    assert eur.updated_at.tzinfo == UTC
    assert eur.probability == pytest.approx(0.9)
    assert not eur.is_closed and not eur.is_won
    assert eur.url.endswith("/crm/v3/objects/deals/512")
    # The blank amount, the nulls and the non-ASCII name of a real portal's deal.
    assert blank.amount is None and blank.close_date is None
    # No stage probability sent: the default pipeline's for its stage (qualifiedtobuy).
    assert blank.probability == pytest.approx(0.4)
    assert blank.name == "Ørsted – 拡張 ☕" and blank.account_ids == ()
    assert [d for p in pages[ARCHIVED_DEALS] for d in p.deleted_ids] == ["512", "514"]


def test_a_portal_without_the_custom_property_switches_deal_keys_off(
    rsps: responses.RequestsMock,
) -> None:
    """The documented Properties API answer has no `jira_issue_keys`: that feature is off,
    said once, the property is not asked for, and every deal still arrives."""
    serve_portal(rsps)
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())

    pages = pulled(connector)

    assert "jira_issue_keys" in connector.missing["deal_issue_keys"]
    searches = [c for c in rsps.calls if c.request.url.endswith("/deals/search")]
    assert searches and all(
        "jira_issue_keys" not in json.loads(c.request.body)["properties"] for c in searches
    )
    assert {d.id for p in pages[DEALS] for d in p.records} == {"512", "513"}


def test_companies_changed_since_the_last_read_come_from_the_company_search(
    rsps: responses.RequestsMock,
) -> None:
    """Between full reads the listing searches for what changed: the search answer's
    companies become accounts and the listing cursor rides on the last page."""
    serve_portal(rsps)
    rsps.add_callback(
        "POST", f"{HUBSPOT}/crm/v3/objects/companies/search", replies("companies_search_page")
    )
    now = datetime.now(UTC).isoformat()
    saved = {"since": now, "full_at": now}
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())

    pages = list(connector.pull(lambda stream: saved if stream == COMPANIES else None))

    companies = [a for p in pages if p.stream == COMPANIES for a in p.records]
    assert [a.name for a in companies] == ["Müller & Söhne GmbH", "Biglytics"]
    last = [p for p in pages if p.stream == COMPANIES][-1]
    assert last.cursor["full_at"] == now and last.complete_ids is None


def test_the_search_total_counts_a_window(rsps: responses.RequestsMock) -> None:
    rsps.add_callback(
        "POST", f"{HUBSPOT}/crm/v3/objects/deals/search", replies("deals_search_page")
    )
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())
    assert connector.count(None, None) == 2


def test_the_recorded_deal_reads_its_home_amount_and_flags() -> None:
    """A real portal's answer: every property a string, the probability only as a shadow."""
    deal = deal_from_raw(body(VENDOR, "deal_created"), "https://h", {}, home_currency="USD")
    assert (deal.amount, deal.currency) == (Decimal("1500.00"), "USD")
    assert deal.name == "Nexus Deal" and deal.stage == "contractsent"
    assert not deal.is_closed
    # Its stage's probability is not sent: the default pipeline's for contractsent.
    assert deal.probability == pytest.approx(0.9)
    assert deal.close_date == datetime(2023, 12, 7, 16, 50, 6, 678000, tzinfo=UTC)


def test_a_429_rate_limit_body_is_waited_out_then_read(rsps: responses.RequestsMock) -> None:
    rsps.add_callback(
        "GET",
        f"{HUBSPOT}/account-info/v3/details",
        replies("error_rate_limit", "account_details"),
    )
    sleep = RecordedSleep()
    connector = HubSpotConnector(sandbox_settings(), sleep=sleep)
    assert connector.api.get_json("/account-info/v3/details")["companyCurrency"] == "EUR"
    assert sleep.waits and sleep.waits[0] >= 1  # Retry-After: 1


def test_a_validation_error_is_fatal_and_names_hubspots_message(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add_callback("POST", f"{HUBSPOT}/crm/v3/objects/deals/search", replies("error_validation"))
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())
    with pytest.raises(ApiError) as raised:
        list(connector.deals(None))
    assert raised.value.status == 400 and "Invalid input" in str(raised.value)
    assert len(rsps.calls) == 1  # a 400 is not retried


def test_missing_notes_scopes_show_in_check_and_refuse_the_note(
    rsps: responses.RequestsMock,
) -> None:
    for path in ("/crm/v3/objects/deals", "/crm/v3/objects/companies"):
        rsps.add_callback("GET", f"{HUBSPOT}{path}", replies("deals_list_page"))
    rsps.add_callback(
        "GET", f"{HUBSPOT}/crm/v3/properties/deals/jira_issue_keys", replies("error_validation")
    )
    rsps.add_callback("GET", f"{HUBSPOT}/crm/v3/objects/notes", replies("error_missing_scopes"))
    rsps.add_callback("POST", f"{HUBSPOT}/crm/v3/objects/notes", replies("error_missing_scopes"))
    rsps.add_callback("GET", f"{HUBSPOT}/account-info/v3/details", replies("account_details"))

    found = {c.name: c for c in capabilities(sandbox_settings())}

    assert found["deals"].available and found["companies"].available
    assert not found["closing_notes"].available
    assert "crm.objects.contacts.write" in found["closing_notes"].detail
    assert found["company_currency"].available and "EUR" in found["company_currency"].detail
    connector = HubSpotConnector(sandbox_settings(), sleep=RecordedSleep())
    with pytest.raises(AuthError):
        HubSpotNotes(connector.api).add("512", "shipped [m]", "[m]")


# -- (b) the sandbox, held against the same answers ------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with start_sandbox(seed=7) as server:
        yield server.url + "/hubspot"


@pytest.fixture(scope="module")
def minimal() -> Iterator[str]:
    with start_sandbox(seed=7, tenant="minimal") as server:
        yield server.url + "/hubspot"


AUTH = {"Authorization": "Bearer sandbox"}
DEAL_PROPS = (
    "dealname,amount,amount_in_home_currency,deal_currency_code,closedate,createdate,"
    "dealstage,pipeline,hs_deal_stage_probability,hs_is_closed,hs_is_closed_won,"
    "hs_lastmodifieddate,jira_issue_keys"
)


def _get(url: str, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{url}{path}", params=params, headers=AUTH, timeout=30)


def _post(url: str, path: str, payload: Any) -> requests.Response:
    return requests.post(f"{url}{path}", json=payload, headers=AUTH, timeout=30)


@pytest.mark.parametrize("page", ["deals_search_page", "deals_search_last_page"])
def test_the_sandbox_search_answers_as_recorded(sandbox: str, page: str) -> None:
    served = _post(
        sandbox,
        "/crm/v3/objects/deals/search",
        {"limit": 1, "properties": DEAL_PROPS.split(",")},
    )
    assert served.status_code == 200
    assert_same_shape(body(VENDOR, page), served.json())


def test_the_sandbox_lists_deals_and_companies_as_recorded(sandbox: str) -> None:
    deals = _get(sandbox, "/crm/v3/objects/deals", limit=1, properties=DEAL_PROPS).json()
    assert_same_shape(body(VENDOR, "deals_list_page"), deals)
    companies = _get(
        sandbox,
        "/crm/v3/objects/companies",
        limit=2,
        properties="name,domain,annualrevenue,createdate,hs_lastmodifieddate",
    ).json()
    recorded = body(VENDOR, "companies_page")
    recorded.pop("paging", None)
    assert_same_shape(recorded, companies)


def test_the_sandbox_archived_list_answers_as_recorded(sandbox: str) -> None:
    deal = _get(sandbox, "/crm/v3/objects/deals", limit=1).json()["results"][0]
    requests.post(
        f"{sandbox.removesuffix('/hubspot')}/_sandbox/delete",
        json={"tool": "hubspot", "kind": "deal", "id": deal["id"]},
        timeout=30,
    ).raise_for_status()
    served = _get(sandbox, "/crm/v3/objects/deals", archived="true", limit=1).json()
    assert served["results"], "the archived deal is listed"
    assert_same_shape(body(VENDOR, "deals_archived"), served)


def test_the_sandbox_association_batch_read_answers_as_recorded(sandbox: str) -> None:
    deal = _get(sandbox, "/crm/v3/objects/deals", limit=1).json()["results"][0]
    served = _post(
        sandbox, "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": deal["id"]}]}
    )
    assert_same_shape(body(VENDOR, "associations_batch_read"), served.json())


def test_the_sandbox_properties_and_account_details_answer_as_recorded(sandbox: str) -> None:
    served = _get(sandbox, "/crm/v3/properties/deals").json()
    recorded = body(VENDOR, "properties_deals")
    # The documented example's enumeration options and readOnlyOptions belong to a select
    # property; the sandbox's deal properties are compared with the deal ones.
    recorded["results"] = recorded["results"][1:]
    assert_same_shape(recorded, served)
    assert_same_shape(
        body(VENDOR, "account_details"), _get(sandbox, "/account-info/v3/details").json()
    )


def test_the_sandbox_refuses_notes_without_the_scopes_as_recorded(minimal: str) -> None:
    served = _get(minimal, "/crm/v3/objects/notes", limit=1)
    assert served.status_code == 403
    assert_same_shape(body(VENDOR, "error_missing_scopes"), served.json())


def test_the_sandbox_rate_limit_answers_as_recorded() -> None:
    limits = {"hubspot": {"ten_secondly_rolling": 1}}
    with start_sandbox(seed=7, rate_limits="real", limits=limits) as server:
        url = server.url + "/hubspot"
        answers = [_get(url, "/crm/v3/objects/deals", limit=1) for _ in range(3)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and refused[0].headers.get("Retry-After")
    assert_same_shape(body(VENDOR, "error_rate_limit"), refused[0].json())


def test_the_sandbox_company_search_answers_as_recorded(sandbox: str) -> None:
    served = _post(
        sandbox,
        "/crm/v3/objects/companies/search",
        {"limit": 2, "properties": ["name", "domain", "annualrevenue", "createdate"]},
    )
    assert_same_shape(body(VENDOR, "companies_search_page"), served.json())


def test_the_sandbox_refuses_a_bad_search_as_documented(sandbox: str) -> None:
    served = _post(sandbox, "/crm/v3/objects/deals/search", {"limit": 500})
    assert served.status_code == 400
    recorded = body(VENDOR, "error_validation")
    recorded.pop("links")  # optional in the spec's Error schema (required: category,
    # correlationId, message), and not on every answer
    assert_same_shape(recorded, served.json())
