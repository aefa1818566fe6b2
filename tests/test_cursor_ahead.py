"""A cursor later than the clock (a clock that ran ahead, a hand edit) would skip every
change between now and then. It is moved back to the newest change stored from the tool,
the run says so, and `status` never shows a negative lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from connectors.base import clamped_cursor, cursor_time
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from pmsync.status_cmd import status_report
from store import Store


def test_a_cursor_ahead_of_the_clock_is_moved_back_and_nothing_is_skipped(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    run_cycle(settings, store)
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    store.cursors.set("jira.issues", ahead)
    assert status_report(store)["cursors"]["jira.issues"]["lag_s"] == 0
    assert status_report(store)["cursors"]["jira.issues"]["ahead_of_clock"] is True
    requests.post(
        f"{sandbox_url}/_sandbox/update",
        json={"tool": "jira", "kind": "issue", "id": "ANA-2", "changes": {"summary": "Renamed"}},
        timeout=30,
    ).raise_for_status()

    result = run_cycle(settings, store)

    assert "jira.issues" in result.clamped and "ahead of the clock" in result.clamped["jira.issues"]
    [issue] = [i for i in store.records.load(RecordKind.ISSUE) if i.key == "ANA-2"]
    assert issue.summary == "Renamed", "the change made after the bad cursor was skipped"
    report = status_report(store)
    assert report["cursors_clamped"] == result.clamped
    assert report["cursors"]["jira.issues"]["ahead_of_clock"] is False
    assert all((c["lag_s"] or 0) >= 0 for c in report["cursors"].values())


def test_each_kind_of_cursor_is_moved_back_inclusively() -> None:
    to = datetime(2026, 1, 1, tzinfo=UTC)
    later = "2030-01-01T00:00:00+00:00"
    assert clamped_cursor(later, to) == to.isoformat()
    assert clamped_cursor({"modified": later, "after_id": "9"}, to) == {
        "modified": to.isoformat(),
        "after_id": None,
    }
    assert clamped_cursor({"modstamp": later, "last_id": "006"}, to)["last_id"] is None
    listing = clamped_cursor({"since": later, "full_at": later}, to)
    assert cursor_time(listing) == to and listing["full_at"] == to.isoformat()
    assert clamped_cursor(later, None) is None  # nothing stored: from the beginning
