"""Event-driven end to end, over real HTTP: the sandbox's signed webhooks, pmsync's receiver,
the dispatcher in a thread and the targeted `handle_events` core, against the numbers an
independent oracle derives from the sandbox."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from connectors.settings import Settings
from flows.events import handle_events
from flows.pipeline import run_cycle
from models import RecordKind
from sandbox.webhooks_out import Delivery, signed_headers
from services.links import relink
from store import Store
from store.inbox import DONE, PENDING
from tests.jira_view import assert_ticket_shows, issue_numbers
from tests.oracle import expected_demand
from tests.test_sandbox_webhooks import QUIET, Receiver, configure, hook_settings, webhook_log
from webhooks.dispatch import Dispatcher, InProcess

AUTH = ("demo@example.com", "sandbox")


class Live:
    """The sandbox sending to pmsync's receiver; pmsync synced once; the dispatcher ready."""

    def __init__(self, url: str, settings: Settings, store: Store, receiver: Receiver) -> None:
        self.url = url
        self.settings = settings
        self.store = store
        self.receiver = receiver
        self.inbox = store.inbox
        self.dispatcher: Dispatcher | None = None

    def start(self, **options: Any) -> Dispatcher:
        self.dispatcher = Dispatcher(
            self.settings,
            self.store,
            runner=InProcess(self.settings, self.store),
            window=0.05,
            poll_interval=0.02,
            **options,
        ).start()
        return self.dispatcher

    def settle(self, timeout: float = 15.0) -> float:
        """Wait until the sandbox has sent everything and the inbox holds nothing unhandled
        (pmsync's writes send more webhooks: wait those out too). Returns the seconds."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.inbox.counts()
            sender = requests.get(f"{self.url}/_sandbox/webhooks", params={"since": 10**9})
            after = self.inbox.counts()
            idle = sender.json()["pending"] == 0 and before == after
            if idle and after[PENDING] == 0 and after["processing"] == 0:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"not settled in {timeout}s: {self.inbox.counts()}")

    def activity(self, kind: str, count: int = 1, seed: int = 0) -> list[dict[str, Any]]:
        answer = requests.post(
            f"{self.url}/_sandbox/activity",
            json={"kind": kind, "count": count, "seed": seed},
            timeout=30,
        )
        answer.raise_for_status()
        changes: list[dict[str, Any]] = answer.json()["changes"]
        return changes

    def writes(self) -> dict[str, int]:
        """Data writes per tool (Salesforce's OAuth token requests are not data)."""
        counts = requests.get(f"{self.url}/_sandbox/requests", timeout=30).json()
        found = {tool: int(data["writes"]) for tool, data in counts.items()}
        found["salesforce"] -= counts["salesforce"]["routes"].get("POST /services/oauth2/token", 0)
        return found

    def issue_edits(self, key: str) -> int:
        routes = requests.get(f"{self.url}/_sandbox/requests", timeout=30).json()["jira"]
        return int(routes["routes"].get("PUT /rest/api/3/issue/{key}", 0))

    def send(self, tool: str, payload: Any, delivery_id: str) -> requests.Response:
        """A delivery signed with the right secret, whatever its body claims."""
        delivery = Delivery(tool, "forged", delivery_id, payload, [], "person")
        body = json.dumps(payload).encode()
        target = f"{self.receiver.url}/webhooks/{tool}"
        headers = signed_headers(delivery, body, target, "sandbox", "X-Pmsync-Secret", 0)
        return requests.post(target, data=body, headers=headers, timeout=30)


def synced(sandbox_url: str, store_url: str, store: Store, echo: bool) -> Iterator[Live]:
    """pmsync synced once; with `echo`, the sync's own writes came back to the inbox."""
    settings = hook_settings(sandbox_url, store_url)
    receiver = Receiver(settings, store)
    if not echo:
        run_cycle(settings, store)
    configure(sandbox_url, webhook_url=receiver.url, **QUIET)
    if echo:
        run_cycle(settings, store)
        webhook_log(sandbox_url)
    world = Live(sandbox_url, settings, store, receiver)
    yield world
    if world.dispatcher:
        world.dispatcher.stop()
    configure(sandbox_url, webhook_url=None, **QUIET)
    webhook_log(sandbox_url)
    receiver.stop()


@pytest.fixture
def live(sandbox_url: str, store_url: str, store: Store) -> Iterator[Live]:
    yield from synced(sandbox_url, store_url, store, echo=False)


@pytest.fixture
def echoed(sandbox_url: str, store_url: str, store: Store) -> Iterator[Live]:
    yield from synced(sandbox_url, store_url, store, echo=True)


def wait_for(check: Any, timeout: float = 5.0) -> float:
    """Poll `check` until it holds; the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not within the deadline"
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_new_ticket_reaches_the_issue_within_seconds(live: Live) -> None:
    """A customer cites an issue in a new ticket: the issue shows one more request, and
    every issue the numbers the oracle derives, within seconds and with no sync."""
    live.start()
    live.settle()
    [change] = live.activity("open_ticket", seed=3)
    key = change["issue_key"]
    before = issue_numbers(live.url, key)["requests"] or 0
    wait_for(lambda: issue_numbers(live.url, key)["requests"] == before + 1, timeout=5)

    live.activity("mixed", count=15, seed=11)
    assert live.settle() < 10
    assert_ticket_shows(live.url, expected_demand(live.url))


def test_a_forged_webhook_changes_nothing(live: Live) -> None:
    """Validly signed, false in content: what pmsync keeps and writes is what the API
    says, so nothing changes and nothing is written."""
    live.start()
    live.settle()
    deal = next(d for d in live.store.records.load(RecordKind.DEAL) if d.source == "hubspot")
    issue = next(i for i in live.store.records.load(RecordKind.ISSUE) if i.key == "ANA-1")
    writes = live.writes()
    fake = {
        "eventId": 990001,
        "subscriptionType": "deal.propertyChange",
        "objectId": int(deal.id),
        "propertyName": "amount",
        "propertyValue": "99999999",
    }
    assert live.send("hubspot", [fake], "forged-1").status_code == 202
    forged_issue = {
        "webhookEvent": "jira:issue_updated",
        "user": {"accountId": "5b-mallory"},
        "issue": {"id": issue.id, "key": issue.key, "fields": {"summary": "Free money"}},
        "changelog": {"items": [{"field": "status", "fieldId": "status", "toString": "Done"}]},
    }
    assert live.send("jira", forged_issue, "forged-2").status_code == 202
    ghost = {"subject": "zen:ticket:999999", "type": "zen:event-type:ticket.created"}
    assert live.send("zendesk", ghost, "forged-3").status_code == 202
    live.settle()
    assert live.writes() == writes
    [deal_now] = [d for d in live.store.records.load(RecordKind.DEAL) if d.id == deal.id]
    [issue_now] = [i for i in live.store.records.load(RecordKind.ISSUE) if i.key == "ANA-1"]
    assert deal_now.amount == deal.amount
    assert (issue_now.summary, issue_now.status) == (issue.summary, issue.status)
    assert live.inbox.counts()[PENDING] == 0


def test_pmsyncs_own_writes_come_back_dropped_and_write_nothing(echoed: Live) -> None:
    """The sync's writes and the close-the-loop notes all come back as webhooks: each is
    recognised and dropped, and none causes another write."""
    live = echoed
    dispatcher = live.start()
    live.settle()
    assert dispatcher.stats["claimed"] >= 37
    assert dispatcher.stats["dropped"] == dispatcher.stats["claimed"]
    assert dispatcher.stats["runs"] == 0

    [change] = live.activity("resolve_issue", seed=5)
    live.settle()
    written = live.writes(), dispatcher.stats["dropped"]
    time.sleep(0.3)  # room for an echo loop to show itself
    live.settle()
    assert (live.writes(), dispatcher.stats["dropped"]) == written
    noted = [n for n in live.store.loop.noted() if n[2] == change["issue_key"]]
    assert len({source for source, *_ in noted}) >= 2, "notes in several tools came back"
    assert dispatcher.stats["runs"] == 1, "the notes' own webhooks were dropped, not handled"


def test_a_duplicated_delivery_is_processed_once(live: Live) -> None:
    """Every delivery sent twice (the vendor's retry): stored once, handled once, the
    issue edited once."""
    configure(live.url, webhook_duplicate=1.0)
    live.start()
    live.settle()
    [change] = live.activity("open_ticket", seed=8)
    key = change["issue_key"]
    edits = live.issue_edits(key)
    live.settle()
    log = webhook_log(live.url)
    ids = [e["delivery_id"] for e in log if e["delivery_id"] in change["deliveries"]]
    assert len(ids) == 2 * len(change["deliveries"])
    assert live.issue_edits(key) == edits + 1
    assert live.dispatcher is not None and live.dispatcher.stats["failed_runs"] == 0


def test_with_half_the_webhooks_dropped_the_scheduled_sync_converges(live: Live) -> None:
    configure(live.url, webhook_drop=0.5, webhook_seed=3)
    live.start()
    live.settle()
    live.activity("mixed", count=20, seed=21)
    live.settle()
    assert any(e["outcome"] == "dropped" for e in webhook_log(live.url))
    run_cycle(live.settings, live.store)
    assert_ticket_shows(live.url, expected_demand(live.url))


def test_an_event_accepted_before_a_crash_is_processed_on_restart(live: Live) -> None:
    """The receiver answered 202, then the dispatcher died holding the batch: a new
    dispatcher takes it up again and the issue gets its numbers."""
    [change] = live.activity("open_ticket", seed=13)
    webhook_log(live.url)
    held = live.inbox.claim(1000)  # the dying dispatcher's claim, never marked
    assert any(e.tool == change["tool"] for e in held)
    key = change["issue_key"]
    before = issue_numbers(live.url, key)["requests"] or 0
    live.start(stale_after=timedelta(0))
    wait_for(lambda: issue_numbers(live.url, key)["requests"] == before + 1, timeout=5)
    live.settle()
    assert live.inbox.counts()[DONE] == len(live.inbox.events())


def test_a_deleted_ticket_leaves_its_issue(live: Live) -> None:
    linked = next(
        link
        for link in live.store.links.all(suggested=False)
        if link.source == "zendesk" and link.kind == "feedback"
    )
    before = issue_numbers(live.url, linked.issue_key)["requests"]
    live.start()
    live.settle()
    gone = {"tool": "zendesk", "kind": "ticket", "id": linked.record_id}
    requests.post(f"{live.url}/_sandbox/delete", json=gone, timeout=30).raise_for_status()
    wait_for(lambda: issue_numbers(live.url, linked.issue_key)["requests"] == before - 1)
    live.settle()
    assert_ticket_shows(live.url, expected_demand(live.url))


def test_the_flow_runs_the_same_core(live: Live, store_url: str) -> None:
    """`handle_events` as a deployment runs it (its function, without a Prefect server)."""
    [change] = live.activity("open_ticket", seed=17)
    webhook_log(live.url)
    ids = [e.id for e in live.inbox.events(status=PENDING) if e.tool == change["tool"]]
    result = handle_events.fn(event_ids=ids, sandbox_url=live.url, database_url=store_url)
    assert change["issue_key"] in result["issues"]
    assert result["published"]["written"] == 1
    assert {e.status for e in live.inbox.events() if e.id in ids} == {DONE}
    again = handle_events.fn(event_ids=ids, sandbox_url=live.url, database_url=store_url)
    assert again["events"] == 0, "a batch already handled is not handled twice"


def test_relinking_a_few_records_gives_what_relinking_all_gives(
    settings: Settings, store: Store
) -> None:
    """The event path relinks only what changed; it must link those records exactly as
    the scheduled sync's link_all does (named, tagged, text-matched), and leave every
    other record's links alone."""
    run_cycle(settings, store)
    everything = set(store.links.all())
    records = [
        *store.records.load(RecordKind.FEEDBACK)[::7],
        *store.records.load(RecordKind.DEAL)[::5],
    ]
    owners = {(r.source, r.id) for r in records}

    relink(settings, store, records)
    assert set(store.links.all()) == everything
    mine = [link for link in everything if (link.source, link.record_id) in owners]
    assert any(link.method == "text" for link in mine), "the sample should hold text links"


def test_relinking_keeps_peoples_decisions(settings: Settings, store: Store) -> None:
    run_cycle(settings, store)
    item = store.records.load(RecordKind.FEEDBACK)[0]
    store.links.decide(item.source, item.id, "ANA-1", "confirmed")
    relink(settings, store, [item])
    mine = [
        link
        for link in store.links.all()
        if (link.source, link.record_id) == (item.source, item.id)
    ]
    assert ("ANA-1", "confirmed") in {(link.issue_key, link.status) for link in mine}
