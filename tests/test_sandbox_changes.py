"""What tests do to the world through /_sandbox: updates through each tool's semantics
(shared timestamps included), deletes as each vendor signals them, search lag, and the
malformed-record subset that /_sandbox/faults reports."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_session import salesforce_token

from sandbox.server import SandboxServer, start_sandbox

JIRA = ("demo@example.com", "sandbox")
ZENDESK = ("demo@example.com/token", "sandbox")
BEARER = {"Authorization": "Bearer sandbox"}
EXPORT = "/zendesk/api/v2/incremental/tickets/cursor.json"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7) as running:
        yield running


def admin(server: SandboxServer, verb: str, **body: Any) -> requests.Response:
    return requests.post(f"{server.url}/_sandbox/{verb}", json=body)


def deal_ids(server: SandboxServer, **params: Any) -> list[str]:
    body = requests.get(
        f"{server.url}/hubspot/crm/v3/objects/deals",
        headers=BEARER,
        params={"limit": 100, **params},
    ).json()
    return [d["id"] for d in body["results"]]


def test_updates_can_share_one_timestamp(server: SandboxServer) -> None:
    """Tests make many records share a timestamp, the case compound cursors exist for."""
    ids = deal_ids(server)[:5]
    for deal in ids:
        answer = admin(
            server, "update", tool="hubspot", kind="deal", id=deal,
            changes={"dealstage": "closedwon"}, at="2025-03-01T10:00:00Z",
        )  # fmt: skip
        assert answer.status_code == 200
    search = requests.post(
        f"{server.url}/hubspot/crm/v3/objects/deals/search",
        headers=BEARER,
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "EQ",
                            "value": "1740823200000",
                        }
                    ]
                }
            ],
            "properties": ["dealstage", "hs_is_closed_won"],
            "limit": 100,
        },
    ).json()
    assert sorted(d["id"] for d in search["results"]) == sorted(ids)
    assert all(d["properties"]["hs_is_closed_won"] == "true" for d in search["results"])


def test_jira_update_moves_status_and_updated(server: SandboxServer) -> None:
    before = requests.get(f"{server.url}/jira/rest/api/3/issue/ANA-2", auth=JIRA).json()
    admin(server, "update", tool="jira", kind="issue", id="ana-2", changes={"status": "Done"})
    after = requests.get(f"{server.url}/jira/rest/api/3/issue/ANA-2", auth=JIRA).json()
    assert after["fields"]["status"]["statusCategory"]["key"] == "done"
    assert (
        after["fields"]["resolutiondate"]
        and after["fields"]["updated"] > before["fields"]["updated"]
    )
    assert admin(server, "update", tool="jira", kind="issue", id="ANA-999").status_code == 404
    assert admin(server, "update", tool="trello", kind="card", id="1").status_code == 400


def test_jira_delete_is_a_404_and_gone_from_search(server: SandboxServer) -> None:
    assert admin(server, "delete", tool="jira", kind="issue", id="ANA-3").status_code == 200
    gone = requests.get(f"{server.url}/jira/rest/api/3/issue/ANA-3", auth=JIRA)
    assert gone.status_code == 404
    found = requests.get(
        f"{server.url}/jira/rest/api/3/search/jql",
        auth=JIRA,
        params={"jql": "project = ANA", "fields": "key", "maxResults": 100},
    ).json()
    assert "ANA-3" not in {i["key"] for i in found["issues"]} and len(found["issues"]) == 39


def test_zendesk_delete_shows_in_the_export(server: SandboxServer) -> None:
    first = requests.get(
        f"{server.url}{EXPORT}", auth=ZENDESK, params={"start_time": 0, "per_page": 1}
    ).json()
    ticket, cursor = first["tickets"][0], None
    last = requests.get(f"{server.url}{EXPORT}", auth=ZENDESK, params={"start_time": 0}).json()
    cursor = last["after_cursor"]
    admin(server, "delete", tool="zendesk", kind="ticket", id=ticket["id"]).raise_for_status()
    resumed = requests.get(f"{server.url}{EXPORT}", auth=ZENDESK, params={"cursor": cursor}).json()
    assert [(t["id"], t["status"]) for t in resumed["tickets"]] == [(ticket["id"], "deleted")]
    shown = requests.get(f"{server.url}/zendesk/api/v2/tickets/{ticket['id']}.json", auth=ZENDESK)
    assert shown.status_code == 404
    without = requests.get(
        f"{server.url}{EXPORT}", auth=ZENDESK, params={"cursor": cursor, "exclude_deleted": "true"}
    ).json()
    assert without["tickets"] == []


def test_hubspot_archive_lists_only_with_archived_true(server: SandboxServer) -> None:
    victim = deal_ids(server)[0]
    admin(server, "delete", tool="hubspot", kind="deal", id=victim).raise_for_status()
    assert victim not in deal_ids(server)
    archived = requests.get(
        f"{server.url}/hubspot/crm/v3/objects/deals",
        headers=BEARER,
        params={"archived": "true"},
    ).json()["results"]
    assert [(d["id"], d["archived"]) for d in archived] == [(victim, True)]
    assert archived[0]["archivedAt"]
    one = f"{server.url}/hubspot/crm/v3/objects/deals/{victim}"
    assert requests.get(one, headers=BEARER).status_code == 404
    assert requests.get(one, headers=BEARER, params={"archived": "true"}).status_code == 200


def test_search_lag_hides_then_shows_a_fresh_record(server: SandboxServer) -> None:
    """Jira, HubSpot and Intercom search lag behind writes; direct GETs do not."""
    config = requests.post(f"{server.url}/_sandbox/config", json={"search_lag_s": 1.0}).json()
    assert config["search_lag_s"] == 1.0
    since = int(time.time() * 1000) - 1000
    admin(server, "update", tool="jira", kind="issue", id="ANA-5", changes={"summary": "Fresh"})
    deal = deal_ids(server)[0]
    admin(server, "update", tool="hubspot", kind="deal", id=deal, changes={"amount": "1"})
    conversation = requests.post(
        f"{server.url}/intercom/conversations/search",
        headers=BEARER,
        json={"query": {"field": "updated_at", "operator": ">", "value": 0}},
    ).json()["conversations"][0]["id"]
    admin(server, "update", tool="intercom", kind="conversation", id=conversation)

    def visible() -> tuple[bool, bool, bool]:
        jira = requests.get(
            f"{server.url}/jira/rest/api/3/search/jql",
            auth=JIRA,
            params={"jql": f"project = ANA AND updated >= {since}", "fields": "key"},
        ).json()
        hubspot = requests.post(
            f"{server.url}/hubspot/crm/v3/objects/deals/search",
            headers=BEARER,
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": deal}]}
                ]
            },
        ).json()
        intercom = requests.post(
            f"{server.url}/intercom/conversations/search",
            headers=BEARER,
            json={"query": {"field": "id", "operator": "=", "value": conversation}},
        ).json()
        return (
            "ANA-5" in {i["key"] for i in jira["issues"]},
            hubspot["total"] == 1,
            intercom["total_count"] == 1,
        )

    assert visible() == (False, False, False)
    issue = requests.get(f"{server.url}/jira/rest/api/3/issue/ANA-5", auth=JIRA).json()
    assert issue["fields"]["summary"] == "Fresh"  # a GET sees the write at once
    time.sleep(1.1)
    assert visible() == (True, True, True)


def streams(server: SandboxServer) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Every live record of every feedback and deal stream, as the APIs serve them."""
    url = server.url
    zendesk = requests.get(f"{url}{EXPORT}", auth=ZENDESK, params={"start_time": 0}).json()
    intercom = requests.post(
        f"{url}/intercom/conversations/search",
        headers=BEARER,
        json={
            "query": {"field": "updated_at", "operator": ">", "value": 0},
            "pagination": {"per_page": 150},
        },
    ).json()
    freshdesk = requests.get(
        f"{url}/freshdesk/api/v2/tickets",
        auth=("sandbox", "X"),
        params={"updated_since": "2000-01-01T00:00:00Z", "per_page": 100, "page": 1},
    ).json()
    freshdesk += requests.get(
        f"{url}/freshdesk/api/v2/tickets",
        auth=("sandbox", "X"),
        params={"updated_since": "2000-01-01T00:00:00Z", "per_page": 100, "page": 2},
    ).json()
    hubspot = requests.get(
        f"{url}/hubspot/crm/v3/objects/deals",
        headers=BEARER,
        params={"limit": 100, "properties": "amount,hs_lastmodifieddate"},
    ).json()
    token = salesforce_token(url).json()["access_token"]
    salesforce = requests.get(
        f"{url}/salesforce/services/data/v60.0/query",
        headers={"Authorization": f"Bearer {token}"},
        params={"q": "SELECT Id, Amount, SystemModstamp FROM Opportunity"},
    ).json()
    assert zendesk["end_of_stream"] and "next" not in intercom["pages"] and salesforce["done"]
    return {
        ("zendesk", "ticket"): {str(t["id"]): t for t in zendesk["tickets"]},
        ("intercom", "conversation"): {c["id"]: c for c in intercom["conversations"]},
        ("freshdesk", "ticket"): {str(t["id"]): t for t in freshdesk},
        ("hubspot", "deal"): {d["id"]: d["properties"] for d in hubspot["results"]},
        ("salesforce", "opportunity"): {r["Id"]: r for r in salesforce["records"]},
    }


def test_malformed_subset_is_fixed_and_reported() -> None:
    """The same records break on every read, exactly those /_sandbox/faults names."""
    with start_sandbox(seed=7, malformed_rate=0.1) as server:
        reported = requests.get(f"{server.url}/_sandbox/faults").json()["malformed"]
        assert {(m["tool"], m["kind"]) for m in reported} == {
            ("zendesk", "ticket"),
            ("intercom", "conversation"),
            ("freshdesk", "ticket"),
            ("hubspot", "deal"),
            ("salesforce", "opportunity"),
        }
        first, second = streams(server), streams(server)
        assert first == second
        broken = {(m["tool"], m["kind"], m["id"]): m["field"] for m in reported}
        clean_stamps = {"zendesk": "updated_at", "freshdesk": "updated_at"}
        for (tool, kind), records in first.items():
            for rid, record in records.items():
                field = broken.get((tool, kind, rid))
                if field:
                    assert str(record[field]).startswith(("0000-", "NaN", "12"))
                elif tool in clean_stamps:
                    assert record[clean_stamps[tool]][:2] == "20"
        total = sum(len(records) for records in first.values())
        assert 0.03 * total < len(reported) < 0.2 * total
        requests.post(
            f"{server.url}/_sandbox/config", json={"malformed_rate": 0}
        ).raise_for_status()
        assert requests.get(f"{server.url}/_sandbox/faults").json()["malformed"] == []


def test_config_validates_and_inject_covers_every_tool(server: SandboxServer) -> None:
    config = f"{server.url}/_sandbox/config"
    assert requests.post(config, json={"search_lag_s": -1}).status_code == 400
    assert requests.post(config, json={"malformed_rate": 2}).status_code == 400
    assert requests.post(config, json={"search_lag_s": 1, "faults": 5}).status_code == 400
    assert requests.get(config).json()["search_lag_s"] == 0.0  # nothing applied
    samples = {
        ("intercom", "conversation"): {"id": "1", "updated_at": "soon"},
        ("freshdesk", "ticket"): {"id": 5, "updated_at": "never", "created_at": "never"},
        ("salesforce", "opportunity"): {"Id": "006000000000001AAA", "SystemModstamp": "bad"},
        ("hubspot", "company"): {"id": "7", "properties": {}},
    }
    for (tool, kind), record in samples.items():
        answer = admin(server, "inject", tool=tool, kind=kind, record=record)
        assert answer.status_code == 200, answer.text
    assert server.state.intercom.conversations["1"]["updated_at"] == "soon"
    assert server.state.freshdesk.tickets[5]["updated_at"] == "never"
    assert (
        admin(server, "inject", tool="salesforce", kind="opportunity", record={}).status_code == 400
    )
