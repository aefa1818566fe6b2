"""A sync while webhook events stream in: the events (new tickets citing issues, and the
issues themselves) are handled through flows.events.process in a thread, on the same
store, while `run_cycle` pulls, links and publishes. Each issue ends with exactly one
managed comment and the numbers the oracle derives from the sandbox."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from connectors.settings import Settings
from flows.events import process
from flows.pipeline import SyncResult, run_cycle
from store import Store
from store.inbox import Delivery
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import assert_ticket_shows, managed_comments
from tests.oracle import expected_demand


def payload_for(change: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The webhook a tool sends for a new ticket, in the shape its receiver reads."""
    tool = str(change["tool"])
    if tool == "intercom":
        item = {"type": "conversation", "id": change["id"]}
        return tool, {"topic": "conversation.user.created", "data": {"item": item}}
    return tool, {"ticket_id": change["id"]}


class Feeder(threading.Thread):
    """Opens a ticket citing an issue in the sandbox, then hands pmsync the tool's event
    and Jira's event for the cited issue, and processes them; again until stopped."""

    def __init__(self, url: str, settings: Settings, store_url: str) -> None:
        super().__init__(name="webhook-feeder", daemon=True)
        self.url = url
        self.settings = settings
        self.store = Store(store_url, upgrade=True)
        self.stop = threading.Event()
        self.processed = 0
        self.errors: list[BaseException] = []

    def feed_once(self, n: int) -> None:
        answer = requests.post(
            f"{self.url}/_sandbox/activity",
            json={"kind": "open_ticket", "count": 1, "seed": 1000 + n},
            timeout=30,
        )
        answer.raise_for_status()
        [change] = answer.json()["changes"]
        tool, payload = payload_for(change)
        inbox = self.store.inbox
        inbox.add(tool, [Delivery(f"{tool}-{n}", payload)])
        issue = {"webhookEvent": "jira:issue_updated", "issue": {"key": change["issue_key"]}}
        inbox.add("jira", [Delivery(f"jira-{n}", issue)])
        events = inbox.claim()
        process(self.settings, self.store, [event.id for event in events])
        self.processed += len(events)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                self.feed_once(n)
                n += 1
                # A pause longer than a waiting run's poll (store.leases.take_waiting,
                # 0.5 s): the sync gets the store between two batches of events.
                time.sleep(0.7)
            self.feed_once(n)  # one more after the sync is done
        except BaseException as error:  # reported in the test's thread
            self.errors.append(error)


def test_a_sync_while_events_stream_in_leaves_one_comment_per_issue(
    sandbox_url: str, any_store_url: str
) -> None:
    """Pins down a sync and event handling both writing an issue: both see "no comment
    yet" and both post one. The events start before the sync and go on after it."""
    settings = Settings.for_sandbox(sandbox_url, database_url=any_store_url, **EXPLICIT_ONLY)
    Store(any_store_url, upgrade=True)  # the schema, once, before the two writers open it
    feeder = Feeder(sandbox_url, settings, any_store_url)
    feeder.start()
    results: list[SyncResult] = []
    try:
        time.sleep(0.3)  # the first events are being handled as the sync starts
        results.append(run_cycle(settings, Store(any_store_url, upgrade=True)))
    finally:
        feeder.stop.set()
        feeder.join(120)
    assert feeder.errors == [] and not feeder.is_alive()
    assert feeder.processed >= 4, "events were handled beside the sync"
    assert results[0].published["failed"] == 0
    expected = expected_demand(sandbox_url)
    for key in expected:
        assert len(managed_comments(sandbox_url, key)) == 1, key
    assert_ticket_shows(sandbox_url, expected)
