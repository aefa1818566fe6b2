"""The /_sandbox endpoints: health, request counts, truth, reset and raw injection."""

from collections.abc import Iterator

import pytest
import requests

from sandbox.server import SandboxServer, start_sandbox

JIRA = ("demo@example.com", "sandbox")
ZENDESK = ("demo@example.com/token", "sandbox")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7) as running:
        yield running


def test_health_and_request_counts(server: SandboxServer) -> None:
    health = requests.get(f"{server.url}/_sandbox/health").json()
    assert health.pop("tenant")["name"] == "full"
    assert health == {"status": "ok", "seed": 7, "scale": 1}
    jira = f"{server.url}/jira/rest/api/3"
    requests.get(f"{jira}/search/jql", auth=JIRA, params={"jql": "project = ANA"})
    requests.post(f"{jira}/search/jql", auth=JIRA, json={"jql": "project = ANA"})
    requests.put(f"{jira}/issue/ANA-1", auth=JIRA, json={"fields": {"customfield_10050": 2}})
    requests.post(
        f"{server.url}/hubspot/crm/v3/objects/deals/search",
        json={},
        headers={"Authorization": "Bearer sandbox"},
    )
    counts = requests.get(f"{server.url}/_sandbox/requests").json()
    assert counts["jira"] == {
        "total": 3,
        "writes": 1,
        "routes": {
            "GET /rest/api/3/search/jql": 1,
            "POST /rest/api/3/search/jql": 1,
            "PUT /rest/api/3/issue/{key}": 1,
        },
    }
    assert counts["hubspot"]["writes"] == 0 and counts["zendesk"]["total"] == 0
    requests.delete(f"{server.url}/_sandbox/requests")
    assert requests.get(f"{server.url}/_sandbox/requests").json()["jira"]["total"] == 0


def test_truth_shape(server: SandboxServer) -> None:
    truth = requests.get(f"{server.url}/_sandbox/truth").json()
    assert truth["project"] == "ANA"
    assert {link["method"] for link in truth["links"]} == {
        "cited_key",
        "zendesk_jira_link",
        "deal_field",
        "text",
        "jira_remote_link",
    }
    link = truth["links"][0]
    assert set(link) == {"source", "kind", "record_id", "issue_key", "method"}
    assert isinstance(link["record_id"], str)
    assert {link["source"] for link in truth["links"]} == {
        "zendesk",
        "intercom",
        "freshdesk",
        "hubspot",
        "salesforce",
    }
    account = next(a for a in truth["accounts"] if a["zendesk_organization_id"])
    assert set(account) == {
        "name",
        "domain",
        "zendesk_organization_id",
        "intercom_company_id",
        "freshdesk_company_id",
        "hubspot_company_id",
        "salesforce_account_id",
    }
    for a in truth["accounts"]:
        assert (a["hubspot_company_id"] is None) != (a["salesforce_account_id"] is None)
        assert all(v is None or isinstance(v, str) for v in a.values())
    org = requests.get(
        f"{server.url}/zendesk/api/v2/organizations/{account['zendesk_organization_id']}.json",
        auth=ZENDESK,
    ).json()
    assert account["domain"] in org["organization"]["domain_names"]


def test_injected_bad_record_is_served_verbatim(server: SandboxServer) -> None:
    bad = {"id": 99999, "subject": "Broken", "updated_at": "not-a-date", "status": "open"}
    assert (
        requests.post(
            f"{server.url}/_sandbox/inject",
            json={"tool": "zendesk", "kind": "ticket", "record": bad},
        ).status_code
        == 200
    )
    page = requests.get(
        f"{server.url}/zendesk/api/v2/incremental/tickets/cursor.json",
        auth=ZENDESK,
        params={"start_time": 0},
    ).json()
    served = next(t for t in page["tickets"] if t["id"] == 99999)
    assert served["updated_at"] == "not-a-date" and page["tickets"][-1]["id"] == 99999
    requests.post(
        f"{server.url}/_sandbox/inject",
        json={
            "tool": "jira",
            "kind": "issue",
            "record": {"id": "19999", "key": "ANA-999", "fields": {"updated": "garbage"}},
        },
    )
    found = requests.get(
        f"{server.url}/jira/rest/api/3/search/jql",
        auth=JIRA,
        params={"jql": "project = ANA ORDER BY updated DESC", "fields": "updated"},
    ).json()
    assert found["issues"][0]["fields"]["updated"] == "garbage"
    assert (
        requests.post(
            f"{server.url}/_sandbox/inject",
            json={"tool": "zendesk", "kind": "widget", "record": {}},
        ).status_code
        == 400
    )


def test_reset_regenerates_and_zeroes_counters(server: SandboxServer) -> None:
    requests.put(
        f"{server.url}/jira/rest/api/3/issue/ANA-1",
        auth=JIRA,
        json={"fields": {"customfield_10050": 2}},
    )
    before = requests.get(f"{server.url}/_sandbox/truth").json()
    assert requests.post(f"{server.url}/_sandbox/reset", json={"seed": 11}).status_code == 200
    assert requests.get(f"{server.url}/_sandbox/health").json()["seed"] == 11
    assert requests.get(f"{server.url}/_sandbox/requests").json()["jira"]["total"] == 0
    assert requests.get(f"{server.url}/_sandbox/truth").json() != before
    requests.post(f"{server.url}/_sandbox/reset")
    issue = requests.get(f"{server.url}/jira/rest/api/3/issue/ANA-1", auth=JIRA).json()
    assert issue["fields"]["customfield_10050"] is None
