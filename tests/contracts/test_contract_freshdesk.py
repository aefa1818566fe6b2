"""Freshdesk's contract, from answers nobody here wrote (tests/contracts/freshdesk/SOURCES.md).

(a) The connector reads every stream it pulls (tickets in `Link`-paged listings, deleted
tickets, companies, one ticket by id) from these answers, and the records it makes are
asserted field by field.
(b) The sandbox, asked the same requests, answers with the recorded keys and types."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from builders import FRESHDESK, RecordedSleep, sandbox_settings
from shapes import assert_same_shape, body, fixture, recorded_answer

from connectors.freshdesk.client import FreshdeskConnector, capabilities
from connectors.lookup import Lookup
from models import Account, Feedback
from sandbox.server import SandboxServer, start_sandbox

TICKETS = f"{FRESHDESK}/api/v2/tickets"
COMPANIES = f"{FRESHDESK}/api/v2/companies"
SINCE = datetime(2016, 5, 1, tzinfo=UTC)


def answer(name: str) -> tuple[int, dict[str, str], str]:
    return recorded_answer("freshdesk", name)


@pytest.fixture
def recorded(rsps: responses.RequestsMock) -> responses.RequestsMock:
    """The ticket listing in two pages (the first with `Link: rel="next"`, the second
    without), the deleted listing, companies in two pages."""
    next_page = fixture("freshdesk", "tickets_page1")["headers"]["Link"].split(">")[0][1:]

    def listing(request: Any) -> tuple[int, dict[str, str], str]:
        if "filter=deleted" in request.url:
            return answer("tickets_deleted_and_spam")
        return answer("tickets_page1")

    rsps.add_callback("GET", TICKETS, callback=listing)
    rsps.add_callback("GET", next_page.split("?")[0], callback=lambda r: answer("tickets_page2"))
    status, headers, text = answer("companies")
    headers["Link"] = f'<{COMPANIES}?per_page=100&page=2>; rel="next"'
    companies = [(status, headers, text), answer("companies_domains")]
    rsps.add_callback("GET", COMPANIES, callback=lambda request: companies.pop(0))
    return rsps


def connector() -> FreshdeskConnector:
    return FreshdeskConnector(sandbox_settings(), sleep=RecordedSleep())


def test_tickets_from_the_recorded_listing(recorded: responses.RequestsMock) -> None:
    """The `Link` header is followed and its absence ends the listing; each ticket becomes
    the feedback a person would recognise: offset times in UTC, custom fields ignored,
    a requester without email kept, non-ASCII and long text whole."""
    pages = list(connector().tickets(None, SINCE))

    records = {r.id: r for page in pages for r in page.records}
    assert sorted(records) == ["2", "3", "4"] and not [d for p in pages for d in p.dead]
    asked = records["2"]
    assert isinstance(asked, Feedback)
    assert asked.subject == "Scheduled export of reports"
    assert asked.body == "Could reports be exported every Monday? Same ask as PROJ-7."
    assert asked.url == f"{FRESHDESK}/a/tickets/2"
    assert asked.requester_email == "dummyname@example.com"
    assert asked.account_id == "1" and asked.status == "open"
    assert asked.tags == ("foo", "bar")
    assert asked.created_at == datetime(2016, 5, 18, 4, 36, 4, tzinfo=UTC)
    # "+05:30" is an offset, not local time to guess at.
    assert records["3"].updated_at == datetime(2016, 5, 19, 2, 30, tzinfo=UTC)
    plain = records["4"]
    assert plain.subject == "Export planifié ✓ für Zoë"
    assert plain.requester_email is None and plain.requester_name == "Зоя Ångström"
    assert plain.account_id is None
    assert plain.body.startswith("Nous aimerions exporter") and len(plain.body) > 5000
    assert "« comme dans l’ancienne version »" in plain.body


def test_deleted_and_spam_tickets_leave_the_store(recorded: responses.RequestsMock) -> None:
    """Flagged tickets never become feedback, wherever a listing carries them."""
    deleted = [i for page in connector().deleted_tickets(SINCE) for i in page.deleted_ids]
    assert deleted == ["5", "6"]

    recorded.replace(responses.GET, TICKETS, json=body("freshdesk", "tickets_deleted_and_spam"))
    (page,) = list(connector().tickets(None, SINCE))
    assert page.records == [] and page.deleted_ids == ["5", "6"]


def test_companies_from_the_recorded_listing(recorded: responses.RequestsMock) -> None:
    pages = list(connector().companies())

    accounts = {r.id: r for page in pages for r in page.records}
    assert sorted(accounts) == ["1", "2", "3", "4"]
    nova = accounts["1"]
    assert isinstance(nova, Account)
    assert nova.name == "Super Nova" and set(nova.domains) == {"supernova", "nova", "super"}
    assert nova.updated_at == datetime(2014, 1, 8, 3, 38, 53, tzinfo=UTC)
    assert nova.url == f"{FRESHDESK}/a/companies/1"
    # Typed by people: one domain once, however it was written; empty ones dropped.
    assert accounts["3"].name == "Ærø Shipping ApS" and accounts["3"].domains == (
        "aeroshipping.dk",
    )
    assert accounts["4"].domains == ()
    assert pages[-1].complete_ids == set(accounts)


def test_one_ticket_by_id_as_recorded(rsps: responses.RequestsMock) -> None:
    rsps.add("GET", f"{TICKETS}/1", json=body("freshdesk", "ticket_1"))

    found = Lookup(sandbox_settings()).fetch("freshdesk", "ticket", "1")

    assert isinstance(found, Feedback)
    assert found.subject == "This is a sample ticket"
    assert found.body == "This is a sample ticket, feel free to delete it."
    assert found.requester_email == "dummyname@example.com" and found.account_id is None
    assert found.updated_at == datetime(2016, 5, 18, 23, 42, 50, tzinfo=UTC)


def test_refused_companies_switch_off_accounts_only(rsps: responses.RequestsMock) -> None:
    """An agent whose role may not view companies still pulls tickets; the companies
    listing read in part removes nothing, and the run says what is missing."""
    status, headers, text = answer("error_credentials")
    rsps.add("GET", COMPANIES, status=403, body=text, headers=headers)
    rsps.add("GET", TICKETS, json=[])
    reader = connector()

    pages = list(reader.pull(lambda stream: None))

    assert not any(p.complete_ids is not None for p in pages if p.kind == "account")
    assert "403" in reader.missing["companies"]


def test_capabilities_name_each_optional_read(rsps: responses.RequestsMock) -> None:
    status, headers, text = answer("error_credentials")
    rsps.add("GET", COMPANIES, json=body("freshdesk", "companies"))
    rsps.add("GET", TICKETS, status=403, body=text, headers=headers)
    rsps.add("GET", f"{FRESHDESK}/api/v2/agents/me", status=403, body=text, headers=headers)

    found = {c.name: c for c in capabilities(sandbox_settings())}

    assert found["companies"].available
    assert not found["deleted_tickets"].available and "403" in found["deleted_tickets"].detail
    assert not found["closing_notes"].available and "agent" in found["closing_notes"].detail


# -- (b) the sandbox answers with the recorded keys and types --------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7, tenant="messy") as running:
        yield running


def ask(server: SandboxServer, path: str, key: str = "sandbox", **params: Any) -> Any:
    url = f"{server.url}/freshdesk{path}"
    return requests.get(url, params=params, auth=(key, "X"), timeout=30)


def tenant_neutral(recorded: Any) -> Any:
    """Custom fields are each helpdesk's own: only that they are an object is the contract."""
    found = copy.deepcopy(recorded)
    for ticket in found if isinstance(found, list) else [found]:
        ticket["custom_fields"] = {}
        # (unconfirmed) python-freshdesk's fixture keeps v1's priority_name; v2 documents none.
        ticket.pop("priority_name", None)
    return found


def test_sandbox_ticket_listing_pages_have_the_recorded_shape(sandbox: SandboxServer) -> None:
    first = ask(
        sandbox,
        "/api/v2/tickets",
        updated_since="1970-01-01T00:00:00Z",
        order_by="updated_at",
        order_type="asc",
        per_page=2,
        include="requester,description",
    )
    assert first.status_code == 200 and first.links["next"]["url"]
    assert_same_shape(tenant_neutral(body("freshdesk", "tickets_page1")), first.json())
    assert_same_shape(tenant_neutral(body("freshdesk", "tickets_page2")), first.json())
    beyond = first.links["next"]["url"].split("?")[0]
    last = ask(
        sandbox, beyond.split("/freshdesk", 1)[1], updated_since="1970-01-01T00:00:00Z", page=300
    )
    assert last.status_code == 200 and "next" not in last.links


def test_sandbox_deleted_listing_has_the_recorded_shape(sandbox: SandboxServer) -> None:
    listed = ask(sandbox, "/api/v2/tickets", updated_since="1970-01-01T00:00:00Z", per_page=1)
    gone = listed.json()[-1]["id"]
    deleted = requests.delete(
        f"{sandbox.url}/freshdesk/api/v2/tickets/{gone}", auth=("sandbox", "X")
    )
    assert deleted.status_code == 204
    served = ask(
        sandbox,
        "/api/v2/tickets",
        filter="deleted",
        updated_since="1970-01-01T00:00:00Z",
        include="requester,description",
    )
    assert [t["id"] for t in served.json()] == [gone]
    recorded = [
        t for t in tenant_neutral(body("freshdesk", "tickets_deleted_and_spam")) if t.get("deleted")
    ]
    assert_same_shape(recorded, served.json())


def test_sandbox_ticket_by_id_has_the_recorded_shape(sandbox: SandboxServer) -> None:
    listed = ask(
        sandbox, "/api/v2/tickets", updated_since="1970-01-01T00:00:00Z", per_page=1
    ).json()
    served = ask(sandbox, f"/api/v2/tickets/{listed[0]['id']}", include="requester,stats")
    assert_same_shape(tenant_neutral(body("freshdesk", "ticket_1")), served.json())


@pytest.mark.parametrize("name", ["companies", "companies_domains"])
def test_sandbox_companies_have_the_recorded_shape(sandbox: SandboxServer, name: str) -> None:
    served = ask(sandbox, "/api/v2/companies").json()
    assert_same_shape(tenant_neutral(body("freshdesk", name)), served)


def test_sandbox_errors_have_the_documented_bodies(sandbox: SandboxServer) -> None:
    invalid = ask(sandbox, "/api/v2/tickets", per_page=500)
    assert invalid.status_code == 400
    assert_same_shape(body("freshdesk", "error_validation"), invalid.json())
    refused = ask(sandbox, "/api/v2/tickets", key="wrong")
    assert refused.status_code == 401
    assert_same_shape(body("freshdesk", "error_credentials"), refused.json())
    unknown = ask(sandbox, "/api/v2/no_such_thing")
    assert unknown.status_code == 404
    assert_same_shape(body("freshdesk", "error_credentials"), unknown.json())
