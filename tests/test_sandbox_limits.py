"""The sandbox's rate limits: each tool's real headers and 429 bodies, the per-issue write
limit, and the 429 log that proves every Retry-After was waited out."""

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_session import salesforce_token

from sandbox.server import SandboxServer, start_sandbox

JIRA = ("demo@example.com", "sandbox")
ZENDESK = ("demo@example.com/token", "sandbox")
HUBSPOT = {"Authorization": "Bearer sandbox"}
INTERCOM = {"Authorization": "Bearer sandbox", "Intercom-Version": "2.11"}
FRESHDESK = ("sandbox", "X")


@pytest.fixture
def limited(server: SandboxServer) -> Iterator[Any]:
    """Returns a function that turns limits on with the given overrides; off afterwards."""

    def configure(limits: dict[str, Any], scale: float = 1.0) -> str:
        answer = requests.post(
            f"{server.url}/_sandbox/config",
            json={"rate_limits": "real", "limits": limits, "limits_scale": scale},
        )
        assert answer.status_code == 200, answer.text
        requests.delete(f"{server.url}/_sandbox/ratelimits").raise_for_status()
        return server.url

    yield configure
    requests.post(
        f"{server.url}/_sandbox/config",
        json={"rate_limits": "off", "limits": {}, "limits_scale": 1.0},
    ).raise_for_status()
    requests.delete(f"{server.url}/_sandbox/ratelimits").raise_for_status()


def ratelimits(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/_sandbox/ratelimits").json()
    return answer


def test_off_by_default_no_limit_and_no_headers(server: SandboxServer) -> None:
    for _ in range(5):
        answer = requests.get(f"{server.url}/jira/rest/api/3/myself", auth=JIRA)
        assert answer.status_code == 200
        assert "X-RateLimit-Limit" not in answer.headers
    assert requests.get(f"{server.url}/_sandbox/config").json()["rate_limits"] == "off"
    assert ratelimits(server.url)["throttled"] == 0


def test_jira_burst_limit_per_endpoint(limited: Any) -> None:
    url = limited({"jira": {"burst": 3}})
    myself = f"{url}/jira/rest/api/3/myself"
    seen = [requests.get(myself, auth=JIRA) for _ in range(3)]
    assert [a.status_code for a in seen] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in seen] == ["2", "1", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in seen} == {"3"}
    assert "X-RateLimit-NearLimit" not in seen[0].headers
    assert seen[2].headers["X-RateLimit-NearLimit"] == "true"

    over = requests.get(myself, auth=JIRA)
    assert over.status_code == 429
    assert over.headers["RateLimit-Reason"] == "jira-burst-based"
    assert over.headers["Retry-After"] in {str(n) for n in range(1, 11)}
    assert over.headers["X-RateLimit-Limit"] == "3"
    assert over.headers["X-RateLimit-Remaining"] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", over.headers["X-RateLimit-Reset"])
    assert over.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    # The burst limit is per endpoint and method: another endpoint still answers.
    assert requests.get(f"{url}/jira/rest/api/3/field", auth=JIRA).status_code == 200
    log = ratelimits(url)
    assert log["throttled"] == 1 and log["by_tool"] == {"jira": 1}
    assert log["log"][0]["route"] == "GET /rest/api/3/myself"
    assert log["log"][0]["reason"] == "burst"


def test_jira_per_issue_write_limit(limited: Any) -> None:
    url = limited({"jira": {"per_issue_write": 2}})
    issue = f"{url}/jira/rest/api/3/issue"
    body = {"fields": {"customfield_10050": 3}}
    assert requests.put(f"{issue}/ANA-1", auth=JIRA, json=body).status_code == 204
    assert requests.put(f"{issue}/ana-1", auth=JIRA, json=body).status_code == 204
    over = requests.put(f"{issue}/ANA-1", auth=JIRA, json=body)
    assert over.status_code == 429
    assert over.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
    assert over.headers["X-RateLimit-Limit"] == "2"
    assert int(over.headers["Retry-After"]) >= 1
    # Comments are writes to the same issue; reads and other issues are not limited by it.
    comment = {"body": {"type": "doc", "version": 1, "content": []}}
    assert requests.post(f"{issue}/ANA-1/comment", auth=JIRA, json=comment).status_code == 429
    assert requests.get(f"{issue}/ANA-1", auth=JIRA).status_code == 200
    assert requests.put(f"{issue}/ANA-2", auth=JIRA, json=body).status_code == 204
    reasons = [entry["reason"] for entry in ratelimits(url)["log"]]
    assert reasons == ["per_issue_write", "per_issue_write"]


def test_zendesk_account_and_export_limits(limited: Any) -> None:
    url = limited({"zendesk": {"incremental_export": 2}})
    export = f"{url}/zendesk/api/v2/incremental/tickets/cursor.json"
    params = {"start_time": 1, "per_page": 1}
    first = requests.get(export, auth=ZENDESK, params=params)
    assert first.status_code == 200
    assert first.headers["X-Rate-Limit"] == "700"
    assert first.headers["X-Rate-Limit-Remaining"] == "699"
    assert requests.get(export, auth=ZENDESK, params=params).status_code == 200
    over = requests.get(export, auth=ZENDESK, params=params)
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert over.headers["X-Rate-Limit"] == "700"
    assert over.headers["Content-Type"].startswith("text/plain")
    assert over.text == "Number of allowed API requests per minute exceeded"
    # Only the export is spent; the rest of the API answers.
    other = requests.get(f"{url}/zendesk/api/v2/users.json", auth=ZENDESK)
    assert other.status_code == 200 and other.headers["X-Rate-Limit-Remaining"] == "697"

    url = limited({"zendesk": {"account": 2}})
    users = f"{url}/zendesk/api/v2/users.json"
    assert [requests.get(users, auth=ZENDESK).status_code for _ in range(3)] == [200, 200, 429]


def test_hubspot_ten_secondly_rolling_and_search(limited: Any) -> None:
    url = limited({"hubspot": {"ten_secondly_rolling": 2}})
    deals = f"{url}/hubspot/crm/v3/objects/deals"
    ok = requests.get(deals, headers=HUBSPOT)
    assert ok.status_code == 200
    assert ok.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert ok.headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert ok.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    requests.get(deals, headers=HUBSPOT)
    over = requests.get(deals, headers=HUBSPOT)
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert over.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = over.json()
    assert {k: body[k] for k in ("status", "message", "errorType", "policyName")} == {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    assert re.fullmatch(r"[0-9a-f-]{36}", body["correlationId"])

    # Search: the real limit, 5 a second.
    url = limited({})
    search = f"{url}/hubspot/crm/v3/objects/deals/search"
    statuses = [requests.post(search, headers=HUBSPOT, json={}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    over = requests.post(search, headers=HUBSPOT, json={})
    assert over.json()["errorType"] == "RATE_LIMIT"
    assert over.json()["policyName"] == "SECONDLY"


def test_intercom_and_freshdesk_answers(limited: Any) -> None:
    url = limited({"intercom": {"app": 2}, "freshdesk": {"account": 1}})
    search = f"{url}/intercom/conversations/search"
    unauthorised = requests.post(search, json={})
    assert unauthorised.status_code == 401
    assert "X-RateLimit-Limit" not in unauthorised.headers  # only for valid credentials
    first = requests.post(search, headers=INTERCOM, json={"query": {}})
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 11
    over = requests.post(search, headers=INTERCOM, json={"query": {}})
    assert over.status_code == 429
    assert over.headers["X-RateLimit-Remaining"] == "0"
    assert int(over.headers["X-RateLimit-Reset"]) == reset
    assert "Retry-After" not in over.headers
    assert over.json()["type"] == "error.list"
    assert over.json()["errors"][0]["code"] == "rate_limit_exceeded"
    assert over.json()["errors"][0]["message"] == "Exceeded rate limit of 2 in 10_seconds"

    tickets = f"{url}/freshdesk/api/v2/tickets"
    first = requests.get(tickets, auth=FRESHDESK)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Total"] == "1"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert first.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    over = requests.get(tickets, auth=FRESHDESK)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert over.headers["X-RateLimit-Total"] == "1"
    log = ratelimits(url)
    assert log["by_tool"] == {"intercom": 1, "freshdesk": 1}
    # Intercom's client is told a reset time, not a Retry-After: the log keeps that wait.
    assert 0 < log["log"][0]["retry_after"] <= 11


def test_salesforce_daily_limit_is_the_emulators(limited: Any) -> None:
    # No 429 for Salesforce: its 403 daily limit and Sforce-Limit-Info live in the emulator
    # (setting salesforce_daily_limit), so the middleware neither counts nor rewrites them.
    url = limited({})
    with pytest.raises(AssertionError):
        limited({"salesforce": {"daily": 1}})
    token = salesforce_token(url)
    if token.status_code != 200:
        pytest.skip(f"salesforce emulator not ready: {token.status_code}")
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    query = f"{url}/salesforce/services/data/v60.0/query"
    answer = requests.get(query, headers=bearer, params={"q": "SELECT Id FROM Account"})
    assert re.fullmatch(r"api-usage=\d+/\d+", answer.headers["Sforce-Limit-Info"])
    assert ratelimits(url)["throttled"] == 0


def test_retry_after_honoured_is_no_violation(limited: Any) -> None:
    url = limited({"jira": {"burst": 2}}, scale=0.1)  # 2 requests a second
    myself = f"{url}/jira/rest/api/3/myself"
    requests.get(myself, auth=JIRA)
    requests.get(myself, auth=JIRA)
    over = requests.get(myself, auth=JIRA)
    assert over.status_code == 429 and over.headers["Retry-After"] == "1"
    time.sleep(float(over.headers["Retry-After"]))
    assert requests.get(myself, auth=JIRA).status_code == 200
    log = ratelimits(url)
    assert log["throttled"] == 1 and log["violations"] == [] and log["pending"] == 0
    assert log["log"][0]["waited"] >= 1.0


def test_too_early_retry_is_a_violation(limited: Any) -> None:
    url = limited({"jira": {"burst": 1}})
    myself = f"{url}/jira/rest/api/3/myself"
    requests.get(myself, auth=JIRA)
    assert requests.get(myself, auth=JIRA).status_code == 429
    assert ratelimits(url)["pending"] == 1
    requests.get(f"{url}/jira/rest/api/3/field", auth=JIRA)  # any request to the tool
    log = ratelimits(url)
    [violation] = log["violations"]
    assert violation["tool"] == "jira"
    assert violation["route"] == "GET /rest/api/3/myself"
    assert violation["retry_after"] >= 1 and violation["waited"] < violation["retry_after"]
    # Another tool's requests neither settle nor break a jira 429.
    requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA)  # 429 again
    requests.get(f"{url}/hubspot/crm/v3/objects/deals", headers=HUBSPOT)
    assert ratelimits(url)["pending"] == 1


def test_sandbox_endpoints_are_never_limited(limited: Any) -> None:
    url = limited({tool: {name: 1} for tool, name in [("jira", "burst"), ("zendesk", "account")]})
    for _ in range(10):
        answer = requests.get(f"{url}/_sandbox/health")
        assert answer.status_code == 200
        assert not any("rate" in header.lower() for header in answer.headers)
    assert ratelimits(url)["throttled"] == 0


def test_config_rejects_bad_settings(server: SandboxServer) -> None:
    config = f"{server.url}/_sandbox/config"
    assert requests.post(config, json={"rate_limits": "sometimes"}).status_code == 400
    assert requests.post(config, json={"limits": {"jira": {"nope": 1}}}).status_code == 400
    assert requests.post(config, json={"limits_scale": 0}).status_code == 400
    assert requests.post(config, json={"colour": "red"}).status_code == 400
    assert requests.post(config, data="not json").status_code == 400
    current = requests.get(config).json()
    assert current["rate_limits"] == "off"
    assert {p["name"] for p in current["limits_table"]["jira"]} >= {"burst", "per_issue_write"}
    assert current["limits_table"]["zendesk"][1] == {
        "name": "incremental_export",
        "limit": 10,
        "window": 60.0,
        "rolling": False,
    }


def test_create_app_parameters() -> None:
    with start_sandbox(rate_limits="real", limits={"jira": {"burst": 1}}) as running:
        myself = f"{running.url}/jira/rest/api/3/myself"
        assert [requests.get(myself, auth=JIRA).status_code for _ in range(2)] == [200, 429]
    with pytest.raises(ValueError):
        start_sandbox(rate_limits="fake")
