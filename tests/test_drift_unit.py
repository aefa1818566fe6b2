"""Drift and healing in small: what counts as drift (numbers as Jira returns them, the
property without its time, the comment's `updated`), which comments are pmsync's to keep
or delete, and the read-back's fallback when a search cuts an issue's comments short."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from builders import JIRA, RecordedSleep, sandbox_settings

from connectors.jira.client import JiraConnector
from connectors.jira.write import COMMENT_MARKER, JiraWriter
from connectors.tracker import SeenComment, SeenIssue, demand_digest
from services.drift import (
    COMMENT_EDITED,
    COMMENT_GONE,
    DUPLICATES,
    FIELDS,
    LABELS,
    PROPERTY,
    drift_of,
)

API = f"{JIRA}/rest/api/3"
ME = "5b10ac8d82e05b22cc7d4ef5"
WRITTEN = {"issue_key": "ANA-1", "requests": 3, "revenue": "1200.50"}
# pmsync's one managed comment on the issue: marked, and written by the API user.
OURS = SeenComment("10", "2025-01-01T10:00:00.000+0000", "2025-01-01T10:00:00.000+0000", True, True)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{API}/serverInfo",
            json={"deploymentType": "Cloud", "versionNumbers": [1001, 0, 0], "version": "1001"},
        )
        mock.get(f"{API}/field", json=[])
        mock.get(f"{API}/myself", json={"accountId": ME, "displayName": "pmsync"})
        yield mock


def writer() -> JiraWriter:
    return JiraWriter(JiraConnector(sandbox_settings(), sleep=RecordedSleep()))


def comment(comment_id: str, created: str, author: str = ME, marked: bool = True) -> dict:
    text = f"5 requests. This is the {COMMENT_MARKER}." if marked else "Looks good"
    body = {"type": "doc", "version": 1, "content": [{"type": "text", "text": text}]}
    stamp = f"2025-01-0{created}T10:00:00.000+0000"
    return {
        "id": comment_id,
        "author": {"accountId": author},
        "body": body,
        "created": stamp,
        "updated": stamp,
    }


def deleted(rsps: responses.RequestsMock) -> list[str]:
    return [c.request.url.rsplit("/", 1)[1] for c in rsps.calls if c.request.method == "DELETE"]


def test_heal_keeps_the_ledgers_comment_else_the_newest_and_never_a_persons(rsps) -> None:
    """Two managed comments from a race and a person's comment quoting the marker: the
    ledger's is kept (else the newest of pmsync's), the other of pmsync's deleted, the
    person's left alone and never taken for the managed one, even when newest."""
    person = "557058:aaaa"
    listing = [comment("10", "1"), comment("11", "2"), comment("12", "3", author=person)]
    rsps.get(f"{API}/issue/ANA-1/comment", json={"total": 3, "comments": listing})
    rsps.delete(f"{API}/issue/ANA-1/comment/10", status=204)
    rsps.delete(f"{API}/issue/ANA-1/comment/11", status=204)

    assert writer().keep_one("ANA-1") == "11"
    assert deleted(rsps) == ["10"]
    assert writer().keep_one("ANA-1", keep="10") == "10"
    assert deleted(rsps) == ["10", "11"]


def test_a_comment_gone_already_is_as_good_as_deleted(rsps) -> None:
    rsps.delete(f"{API}/issue/ANA-1/comment/10", status=404, json={"errorMessages": ["gone"]})
    writer().delete_comment("ANA-1", "10")


def test_read_back_lists_the_comments_a_search_cut_short(rsps) -> None:
    """(unconfirmed) how many comments a search result carries: one whose `total` says
    more than it holds has the issue's own listing read; the others cost no read."""
    short = {"total": 2, "maxResults": 1, "startAt": 0, "comments": [comment("10", "1")]}
    whole = {"total": 1, "maxResults": 1, "startAt": 0, "comments": [comment("20", "1")]}
    prop = {"pmsync.demand": {**WRITTEN, "written_at": "2025-01-01T00:00:00+00:00"}}
    issues = [
        {"id": "1", "key": "ANA-1", "fields": {"comment": short, "labels": ["demand-high"]}},
        {"id": "2", "key": "ANA-2", "fields": {"comment": whole}, "properties": prop},
        {"id": "3", "key": "ANA-3", "fields": {"comment": whole}},
    ]
    rsps.get(f"{API}/search/jql", json={"issues": issues})
    rsps.get(
        f"{API}/issue/ANA-1/comment",
        json={"total": 2, "comments": [comment("10", "1"), comment("11", "2", marked=False)]},
    )

    seen = writer().read_back({"ANA-1", "ANA-2"}, ["customfield_10050"])

    assert set(seen) == {"ANA-1", "ANA-2"}, "only the issues asked for are kept"
    assert [c.id for c in seen["ANA-1"].comments] == ["10", "11"]  # pmsync's, marked or not
    assert [c.marked for c in seen["ANA-1"].comments] == [True, False]
    assert seen["ANA-1"].labels == ["demand-high"] and seen["ANA-1"].demand is None
    assert seen["ANA-2"].demand == demand_digest(WRITTEN)
    listings = [c for c in rsps.calls if c.request.url.split("?")[0].endswith("/comment")]
    assert len(listings) == 1
    search = next(c for c in rsps.calls if "/search/jql" in c.request.url)
    assert "properties=pmsync.demand" in search.request.url


def seen_issue(**changes: Any) -> SeenIssue:
    base: dict[str, Any] = {
        "fields": {"customfield_10050": 3.0, "customfield_10051": 1200.5},
        "labels": ["backend", "demand-medium"],
        "demand": demand_digest({**WRITTEN, "written_at": "2025-02-01T00:00:00+00:00"}),
        "comments": [OURS],
    }
    return SeenIssue(**{**base, **changes})


def drift(seen: SeenIssue, updated: Any = "2025-01-01T10:00:00.000+0000") -> frozenset[str]:
    return drift_of(
        seen,
        "10",
        WRITTEN,
        {"customfield_10050": 3, "customfield_10051": 1200.5},
        {"demand-medium"},
        {"demand-medium", "demand-high"},
        updated,
    ).parts


@pytest.mark.parametrize(
    ("changes", "parts"),
    [
        pytest.param({}, set(), id="as-written: numbers as floats, property with a new time"),
        pytest.param(
            {"fields": {"customfield_10050": 999.0, "customfield_10051": 1200.5}},
            {FIELDS},
            id="field-edited",
        ),
        pytest.param(
            {"fields": {"customfield_10050": None, "customfield_10051": 1200.5}},
            {FIELDS},
            id="field-cleared",
        ),
        pytest.param({"labels": ["backend"]}, {LABELS}, id="label-removed"),
        pytest.param(
            {"labels": ["backend", "demand-medium", "demand-high"]}, {LABELS}, id="label-added"
        ),
        pytest.param({"labels": ["demand-medium", "frontend"]}, set(), id="other-labels-theirs"),
        pytest.param({"demand": None}, {PROPERTY}, id="property-removed"),
        pytest.param(
            {"demand": demand_digest({**WRITTEN, "requests": 999})},
            {PROPERTY},
            id="property-edited",
        ),
        pytest.param({"comments": []}, {COMMENT_GONE}, id="comment-deleted"),
        pytest.param(
            {
                "comments": [
                    SeenComment(
                        "10",
                        "2025-01-01T10:00:00.000+0000",
                        "2025-01-03T09:00:00.000+0000",
                        True,
                        True,
                    )
                ]
            },
            {COMMENT_EDITED},
            id="comment-edited",
        ),
        pytest.param(
            {
                "comments": [
                    SeenComment(
                        "10",
                        "2025-01-01T10:00:00.000+0000",
                        "2025-01-01T10:00:00.000+0000",
                        False,
                        True,
                    )
                ]
            },
            {COMMENT_EDITED},
            id="marker-edited-away",
        ),
        pytest.param(
            {
                "comments": [
                    OURS,
                    SeenComment(
                        "11",
                        "2025-01-02T10:00:00.000+0000",
                        "2025-01-02T10:00:00.000+0000",
                        True,
                        True,
                    ),
                ]
            },
            {DUPLICATES},
            id="second-managed-comment",
        ),
        pytest.param(
            {
                "comments": [
                    OURS,
                    SeenComment(
                        "12",
                        "2025-01-02T10:00:00.000+0000",
                        "2025-01-02T10:00:00.000+0000",
                        True,
                        False,
                    ),
                ]
            },
            set(),
            id="a-persons-comment-quoting-the-marker",
        ),
    ],
)
def test_what_counts_as_drift(changes: dict[str, Any], parts: set[str]) -> None:
    assert drift(seen_issue(**changes)) == parts


def test_a_comment_time_in_another_offset_is_the_same_time() -> None:
    assert drift(seen_issue(), updated="2025-01-01T11:00:00.000+0100") == frozenset()
    assert drift(seen_issue(), updated=None) == frozenset(), "unknown: no edit detected"


def test_the_property_digest_ignores_when_and_key_order() -> None:
    later = json.loads(json.dumps({"revenue": "1200.50", **WRITTEN, "written_at": "later"}))
    assert demand_digest(later) == demand_digest(WRITTEN)
    assert demand_digest(None) is None and demand_digest([1]) is None
