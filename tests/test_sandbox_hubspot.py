"""HubSpot contract: object lists, search with its 10,000 cap, v4 associations and notes."""

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from sandbox_session import ToolSession, sandbox_session

from sandbox.world import generate

WORLD = generate(7)
DEALS = sum(d.crm == "hubspot" for d in WORLD.deals)  # the rest live in Salesforce
COMPANIES = sum(a.crm == "hubspot" for a in WORLD.accounts)


class Client(ToolSession):
    def __init__(self, base: str) -> None:
        super().__init__(base, {"Authorization": "Bearer sandbox"})


@pytest.fixture
def client() -> Iterator[Client]:
    with sandbox_session(Client, "hubspot") as session:
        yield session


def _search(client: Client, **body: Any) -> requests.Response:
    return client.post("/crm/v3/objects/deals/search", json=body)


def test_list_deals_pages_with_properties_and_associations(client: Client) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "limit": 30,
        "properties": "dealname,amount,jira_issue_keys",
        "associations": "companies",
    }
    while True:
        page = client.get("/crm/v3/objects/deals", params=params).json()
        seen += page["results"]
        if "paging" not in page:
            break
        params["after"] = page["paging"]["next"]["after"]
    assert len(seen) == len({d["id"] for d in seen}) == DEALS
    deal = seen[0]
    assert set(deal["properties"]) == {
        "dealname",
        "amount",
        "jira_issue_keys",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
    assert all(v is None or isinstance(v, str) for d in seen for v in d["properties"].values())
    assert deal["associations"]["companies"]["results"][0]["type"] == "deal_to_company"
    assert any(d["properties"]["jira_issue_keys"] for d in seen)


def test_search_filters_sorts_and_pages(client: Client) -> None:
    everything = _search(
        client,
        limit=200,
        properties=["hs_lastmodifieddate", "dealstage"],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
    ).json()
    assert everything["total"] == DEALS and "paging" not in everything
    stamps = [d["properties"]["hs_lastmodifieddate"] for d in everything["results"]]
    assert stamps == sorted(stamps)
    assert "associations" not in everything["results"][0]
    middle = stamps[DEALS // 2]
    since = _search(
        client,
        limit=10,
        filterGroups=[
            {
                "filters": [
                    {
                        "propertyName": "hs_lastmodifieddate",
                        "operator": "GTE",
                        "value": str(_ms(middle)),
                    }
                ]
            }
        ],
    ).json()
    assert since["total"] == sum(s >= middle for s in stamps)
    assert since["paging"]["next"]["after"] == "10"
    won = _search(
        client,
        limit=200,
        filterGroups=[
            {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]}
        ],
    ).json()
    assert won["total"] == sum(
        d["properties"]["dealstage"] == "closedwon" for d in everything["results"]
    )


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def test_search_refuses_paging_past_ten_thousand(client: Client) -> None:
    response = _search(client, limit=100, after="9950")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"]
    assert _search(client, limit=201).status_code == 400


def test_companies_and_associations(client: Client) -> None:
    params: dict[str, Any] = {"limit": 100, "properties": "name,domain,annualrevenue"}
    companies = client.get("/crm/v3/objects/companies", params=params)
    assert len(companies.json()["results"]) == COMPANIES
    deals = client.get("/crm/v3/objects/deals", params={"limit": 5}).json()["results"]
    one = client.get(f"/crm/v4/objects/deals/{deals[0]['id']}/associations/companies").json()
    assert one["results"][0]["associationTypes"][0]["category"] == "HUBSPOT_DEFINED"
    batch = client.post(
        "/crm/v4/associations/deals/companies/batch/read",
        json={"inputs": [{"id": d["id"]} for d in deals]},
    )
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["from"]["id"] for r in results] == [d["id"] for d in deals]
    assert results[0]["to"] == one["results"]
    partial = client.post(
        "/crm/v4/associations/deals/companies/batch/read",
        json={"inputs": [{"id": deals[0]["id"]}, {"id": "1"}]},
    )
    assert partial.status_code == 207 and partial.json()["numErrors"] == 1


def test_notes_are_created_and_listed_per_deal(client: Client) -> None:
    deal = client.get("/crm/v3/objects/deals", params={"limit": 1}).json()["results"][0]
    note = client.post(
        "/crm/v3/objects/notes",
        json={
            "properties": {"hs_timestamp": "1735689600000", "hs_note_body": "ANA-3 shipped"},
            "associations": [
                {
                    "to": {"id": deal["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
                }
            ],
        },
    )
    assert note.status_code == 201
    assert note.json()["properties"]["hs_timestamp"] == "2025-01-01T00:00:00.000Z"
    listed = client.get(f"/crm/v4/objects/deals/{deal['id']}/associations/notes").json()
    assert [str(r["toObjectId"]) for r in listed["results"]] == [note.json()["id"]]
    bad = client.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "x"}})
    assert bad.status_code == 400


def test_wrong_token_is_refused(client: Client) -> None:
    response = client.get("/crm/v3/objects/deals", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


def test_company_search_finds_what_changed_since_a_time_oldest_first(client: Client) -> None:
    """What an incremental companies read relies on: `hs_lastmodifieddate GTE <epoch ms>`
    sorted ascending finds a company updated since then (and none archived), in order."""
    every = client.get("/crm/v3/objects/companies", params={"limit": 100}).json()["results"]
    newest = max(c["properties"]["hs_lastmodifieddate"] for c in every)
    since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": ""}
    admin = client.base.removesuffix("/hubspot") + "/_sandbox"
    changed, archived = every[0]["id"], every[1]["id"]
    for path, body in (
        ("update", {"changes": {"name": "Renamed"}, "id": changed}),
        ("update", {"changes": {"name": "Gone soon"}, "id": archived}),
        ("delete", {"id": archived}),
    ):
        target = {"tool": "hubspot", "kind": "company", **body}
        requests.post(f"{admin}/{path}", json=target).raise_for_status()

    found = client.post(
        "/crm/v3/objects/companies/search",
        json={
            "filterGroups": [{"filters": [{**since, "value": str(_ms(newest) + 1)}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["name", "domain", "hs_lastmodifieddate"],
            "limit": 200,
        },
    ).json()

    assert found["total"] == 1 and "paging" not in found
    (company,) = found["results"]
    assert (company["id"], company["properties"]["name"]) == (changed, "Renamed")
    assert set(company["properties"]) == {
        "name",
        "domain",
        "hs_lastmodifieddate",
        "createdate",
        "hs_object_id",
    }
    everything = client.post(
        "/crm/v3/objects/companies/search",
        json={
            "filterGroups": [{"filters": [{**since, "value": "0"}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["hs_lastmodifieddate"],
            "limit": 200,
        },
    ).json()
    stamps = [_ms(c["properties"]["hs_lastmodifieddate"]) for c in everything["results"]]
    assert everything["total"] == COMPANIES - 1 and stamps == sorted(stamps)
    assert archived not in {c["id"] for c in everything["results"]}


# -- tenants, the Properties API and the names of object types --------------------------------


@pytest.fixture
def tenant_client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with sandbox_session(Client, "hubspot", tenant=request.param) as session:
        yield session


def _deals(client: Client, properties: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100, "properties": properties}
    while True:
        body = client.get("/crm/v3/objects/deals", params=params).json()
        found += body["results"]
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return found
        params["after"] = after


@pytest.mark.parametrize("name", ["deals", "deal", "0-3", "DEALS"])
def test_deals_answer_under_every_name_of_their_type(client: Client, name: str) -> None:
    """Clients address object types by plural, singular or type id; all read the same."""
    listed = client.get(f"/crm/v3/objects/{name}", params={"limit": 3}).json()["results"]
    assert [d["id"] for d in listed] == [
        d["id"] for d in client.get("/crm/v3/objects/deals", params={"limit": 3}).json()["results"]
    ]
    found = client.post(f"/crm/v3/objects/{name}/search", json={"limit": 2}).json()
    assert found["total"] == DEALS
    one = client.get(f"/crm/v3/objects/{name}/{listed[0]['id']}").json()
    assert one["id"] == listed[0]["id"]


def test_associations_batch_read_by_singular_names_and_type_ids(client: Client) -> None:
    deal = client.get("/crm/v3/objects/deals", params={"limit": 1}).json()["results"][0]
    plural = client.post(
        "/crm/v4/associations/deals/companies/batch/read", json={"inputs": [{"id": deal["id"]}]}
    ).json()
    for source, target in (("deal", "company"), ("0-3", "0-2")):
        answer = client.post(
            f"/crm/v4/associations/{source}/{target}/batch/read",
            json={"inputs": [{"id": deal["id"]}]},
        )
        assert answer.status_code == 200
        assert answer.json()["results"] == plural["results"]
    single = client.get(f"/crm/v4/objects/0-3/{deal['id']}/associations/company").json()
    assert single["results"] == plural["results"][0]["to"]


def test_properties_api_lists_and_reads_definitions(client: Client) -> None:
    listed = client.get("/crm/v3/properties/deals").json()["results"]
    by_name = {p["name"]: p for p in listed}
    assert {"amount", "dealname", "jira_issue_keys", "amount_in_home_currency"} <= set(by_name)
    assert by_name["amount"]["type"] == "number"
    assert by_name["jira_issue_keys"]["hubspotDefined"] is False
    one = client.get("/crm/v3/properties/0-3/jira_issue_keys")
    assert one.status_code == 200 and one.json()["name"] == "jira_issue_keys"
    missing = client.get("/crm/v3/properties/deals/no_such_property")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert client.get("/crm/v3/schemas").json() == {"results": []}


def test_unknown_routes_answer_hubspots_json_error(client: Client) -> None:
    answer = client.get("/crm/v3/nothing/here")
    assert answer.status_code == 404
    assert answer.json()["status"] == "error" and "correlationId" in answer.json()
    assert client.get("/crm/v3/objects/tickets").status_code == 404


@pytest.mark.parametrize("tenant_client", ["minimal"], indirect=True)
def test_a_portal_without_the_custom_property_never_serves_it(tenant_client: Client) -> None:
    """HubSpot leaves an unknown property out of `properties=` silently; only the
    Properties API tells that it does not exist."""
    names = {p["name"] for p in tenant_client.get("/crm/v3/properties/deals").json()["results"]}
    assert "jira_issue_keys" not in names
    assert tenant_client.get("/crm/v3/properties/deals/jira_issue_keys").status_code == 404
    deals = _deals(tenant_client, "dealname,jira_issue_keys")
    assert deals and all("jira_issue_keys" not in d["properties"] for d in deals)
    assert all("dealname" in d["properties"] for d in deals)


@pytest.mark.parametrize("tenant_client", ["minimal"], indirect=True)
def test_an_app_without_the_notes_scopes_gets_missing_scopes_on_notes(
    tenant_client: Client,
) -> None:
    deal = tenant_client.get("/crm/v3/objects/deals", params={"limit": 1}).json()["results"][0]
    for answer in (
        tenant_client.get("/crm/v3/objects/notes", params={"limit": 1}),
        tenant_client.get(f"/crm/v4/objects/deals/{deal['id']}/associations/notes"),
        tenant_client.post(
            "/crm/v3/objects/notes",
            json={"properties": {"hs_timestamp": "2024-05-01T00:00:00Z", "hs_note_body": "x"}},
        ),
    ):
        assert answer.status_code == 403
        assert answer.json()["category"] == "MISSING_SCOPES"
    # Deals and companies still read.
    assert tenant_client.get("/crm/v3/objects/companies").status_code == 200


@pytest.mark.parametrize("tenant_client", ["multi-currency"], indirect=True)
def test_multi_currency_deals_carry_their_currency_and_the_home_amount(
    tenant_client: Client,
) -> None:
    deals = _deals(tenant_client, "amount,deal_currency_code,amount_in_home_currency")
    currencies = {d["properties"]["deal_currency_code"] for d in deals}
    assert currencies == {"USD", "EUR", "GBP", "JPY"}
    for deal in deals:
        props = deal["properties"]
        if props["deal_currency_code"] == "USD":
            assert props["amount_in_home_currency"] == props["amount"]
        elif props["deal_currency_code"] == "EUR":
            expected = (Decimal(props["amount"]) * Decimal("1.08")).quantize(Decimal("0.01"))
            assert Decimal(props["amount_in_home_currency"]) == expected
    jpy = next(d for d in deals if d["properties"]["deal_currency_code"] == "JPY")
    assert "." not in jpy["properties"]["amount"]  # yen have no minor unit
    details = tenant_client.get("/account-info/v3/details").json()
    assert details["companyCurrency"] == "USD"
    assert set(details["additionalCurrencies"]) == {"EUR", "GBP", "JPY"}


def test_a_single_currency_portal_serves_the_amount_as_home_amount(client: Client) -> None:
    deals = _deals(client, "amount,amount_in_home_currency,deal_currency_code")
    assert all(
        d["properties"]["amount_in_home_currency"] == d["properties"]["amount"] for d in deals
    )
    assert {d["properties"]["deal_currency_code"] for d in deals} == {"USD"}
    assert client.get("/account-info/v3/details").json()["additionalCurrencies"] == []


@pytest.mark.parametrize("tenant_client", ["messy"], indirect=True)
def test_a_messy_portal_has_null_and_blank_properties_and_non_ascii_names(
    tenant_client: Client,
) -> None:
    deals = _deals(tenant_client, "dealname,amount,closedate,pipeline")
    assert any(d["properties"]["amount"] is None for d in deals)
    assert any(d["properties"]["closedate"] == "" for d in deals)
    assert any(not d["properties"]["dealname"].isascii() for d in deals)
    companies = tenant_client.get(
        "/crm/v3/objects/companies", params={"limit": 100, "properties": "name,annualrevenue"}
    ).json()["results"]
    assert any(c["properties"]["annualrevenue"] is None for c in companies)
