"""What a product manager sees on a sandbox Jira issue, read through Jira's own REST API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from tests.oracle import AUTH

FIELDS = {
    "requests": "customfield_10050",
    "revenue": "customfield_10051",
    "open_pipeline": "customfield_10052",
}
MARKER = "pmsync demand summary"


def _text(node: Any) -> str:
    if isinstance(node, dict):
        return node.get("text", "") + "".join(_text(c) for c in node.get("content", []))
    if isinstance(node, list):
        return "".join(_text(c) for c in node)
    return ""


def issue_numbers(url: str, key: str) -> dict[str, Any]:
    issue = requests.get(
        f"{url}/jira/rest/api/3/issue/{key}",
        auth=AUTH,
        timeout=30,
        params={"fields": ",".join(FIELDS.values())},
    ).json()
    fields = issue["fields"]
    return {name: fields.get(field_id) for name, field_id in FIELDS.items()}


def managed_comments(url: str, key: str) -> list[str]:
    body = requests.get(
        f"{url}/jira/rest/api/3/issue/{key}/comment",
        auth=AUTH,
        timeout=30,
        params={"maxResults": 100},
    ).json()
    texts = [_text(c["body"]) for c in body["comments"]]
    return [t for t in texts if MARKER in t]


def demand_property(url: str, key: str) -> dict[str, Any] | None:
    response = requests.get(
        f"{url}/jira/rest/api/3/issue/{key}/properties/pmsync.demand", auth=AUTH, timeout=30
    )
    return response.json()["value"] if response.status_code == 200 else None


def all_issue_keys(url: str) -> list[str]:
    truth = requests.get(f"{url}/_sandbox/truth", timeout=30).json()
    keys = set()
    token = None
    while True:
        params = {"jql": f"project = {truth['project']}", "fields": "summary", "maxResults": 100}
        if token:
            params["nextPageToken"] = token
        body = requests.get(
            f"{url}/jira/rest/api/3/search/jql", params=params, auth=AUTH, timeout=30
        ).json()
        keys.update(issue["key"] for issue in body["issues"])
        token = body.get("nextPageToken")
        if not token:
            return sorted(keys)


def assert_ticket_shows(url: str, expected: dict[str, dict[str, Any]]) -> None:
    """Every linked issue carries the expected numbers and exactly one managed comment;
    every other issue carries nothing."""
    for key in all_issue_keys(url):
        shown = issue_numbers(url, key)
        comments = managed_comments(url, key)
        if key not in expected:
            assert shown == {"requests": None, "revenue": None, "open_pipeline": None}, key
            assert comments == [], key
            continue
        want = expected[key]
        assert shown["requests"] == want["requests"], key
        assert Decimal(str(shown["revenue"])) == want["revenue"], key
        # The field carries the deals naming the issue (PMSYNC_JIRA_PIPELINE_CARRIES=named).
        assert Decimal(str(shown["open_pipeline"])) == want["named_pipeline"], key
        assert len(comments) == 1, f"{key} has {len(comments)} managed comments"
        prop = demand_property(url, key)
        assert prop is not None and prop["customers"] == want["customers"], key
        assert prop["requests"] == want["requests"], key
        if "weighted_requests" in want:  # a property of every request at 1 may leave it out
            weighted = prop.get("weighted_requests", prop["requests"])
            assert weighted == want["weighted_requests"], key
