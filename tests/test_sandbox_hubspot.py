"""HubSpot contract: object lists, search with its 10,000 cap, v4 associations and notes."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from sandbox.server import start_sandbox
from sandbox.world import generate

WORLD = generate(7)
DEALS = sum(d.crm == "hubspot" for d in WORLD.deals)  # the rest live in Salesforce
COMPANIES = sum(a.crm == "hubspot" for a in WORLD.accounts)


class Client(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.headers["Authorization"] = "Bearer sandbox"

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        return super().request(method, f"{self.base}{url!s}", *args, **kwargs)


@pytest.fixture
def client() -> Iterator[Client]:
    with start_sandbox(seed=7) as server, Client(server.url + "/hubspot") as session:
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
