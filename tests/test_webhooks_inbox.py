"""The webhook inbox on SQLite and (when PMSYNC_TEST_POSTGRES_URL is set) PostgreSQL:
idempotent adds, claims that never hand one event to two workers, and nothing lost when
a worker dies."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.testclient import TestClient

from connectors.settings import Settings
from store import Store
from store.inbox import Delivery, Inbox, inbox
from tests.postgres import postgres_schema
from webhooks import create_app

POSTGRES_URL = os.environ.get("PMSYNC_TEST_POSTGRES_URL")
START = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


class Clock:
    """A frozen clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL; on PostgreSQL a schema of its own, dropped afterwards, so
    parallel runs and other suites never see these tables."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pmsync.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PMSYNC_TEST_POSTGRES_URL not set: PostgreSQL inbox tests skipped")
    # lock_timeout: a claim that waits on another's lock fails the test instead of hanging.
    with postgres_schema("pmsync_test_inbox", "-clock_timeout=5000") as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url, upgrade=True)
    yield store
    store.engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box(store: Store, clock: Clock) -> Inbox:
    return Inbox(store.engine, clock=clock)


def deliveries(*ids: int | str) -> list[Delivery]:
    return [
        Delivery(str(i), {"issue": {"id": str(i)}}, {"x-atlassian-webhook-identifier": str(i)})
        for i in ids
    ]


def fill(box: Inbox, n: int) -> None:
    box.add("jira", deliveries(*range(1, n + 1)))


def test_add_is_idempotent_per_tool(box: Inbox) -> None:
    """The same delivery id twice is one row; the same id from another tool is another."""
    assert box.add("jira", deliveries(1, 2)) == 2
    assert box.add("jira", deliveries(2, 3)) == 1
    assert box.add("zendesk", deliveries(1)) == 1
    assert box.add("jira", []) == 0
    events = box.events()
    assert [(e.tool, e.delivery_id) for e in events] == [
        ("jira", "1"),
        ("jira", "2"),
        ("jira", "3"),
        ("zendesk", "1"),
    ]
    assert events[0].payload == {"issue": {"id": "1"}}
    assert events[0].headers == {"x-atlassian-webhook-identifier": "1"}
    assert events[0].received_at == START
    assert box.counts() == {"pending": 4, "processing": 0, "done": 0, "failed": 0}


def test_add_after_done_stores_nothing(box: Inbox) -> None:
    """A vendor retry arriving after the event was handled is not handled again."""
    box.add("jira", deliveries(1))
    box.mark_done([e.id for e in box.claim()])
    assert box.add("jira", deliveries(1)) == 0
    assert box.backlog() == 0


def test_claim_takes_oldest_first_up_to_the_limit(box: Inbox, clock: Clock) -> None:
    fill(box, 5)
    first = box.claim(limit=3)
    assert [e.delivery_id for e in first] == ["1", "2", "3"]
    assert {e.status for e in first} == {"processing"}
    assert {e.attempts for e in first} == {1}
    assert len({e.claim for e in first}) == 1 and first[0].claim
    second = box.claim(limit=3)
    assert [e.delivery_id for e in second] == ["4", "5"]
    assert second[0].claim != first[0].claim
    assert box.claim() == []
    assert box.backlog() == 5


def test_mark_done_and_backlog(box: Inbox) -> None:
    fill(box, 3)
    claimed = box.claim(limit=2)
    box.mark_done([e.id for e in claimed])
    assert box.backlog() == 1
    assert box.backlog(tool="zendesk") == 0
    assert box.counts() == {"pending": 1, "processing": 0, "done": 2, "failed": 0}
    done = box.events(status="done")
    assert [e.delivery_id for e in done] == ["1", "2"] and done[0].claim is None


def test_mark_failed_retries_until_attempts_run_out(box: Inbox) -> None:
    """A failure returns the event to pending with the error kept; the third failure of
    an event allowed three attempts is final."""
    fill(box, 1)
    for attempt in range(1, 4):
        [event] = box.claim()
        assert event.attempts == attempt
        box.mark_failed([event.id], f"Jira answered 503 (try {attempt})", max_attempts=3)
    [event] = box.events()
    assert (event.status, event.attempts) == ("failed", 3)
    assert event.error == "Jira answered 503 (try 3)"
    assert box.claim() == []
    assert box.backlog() == 0


def test_stuck_processing_returns_to_pending(store: Store, store_url: str, clock: Clock) -> None:
    """A worker that dies after claiming leaves rows in processing: past the timeout, a
    restarted worker's claim finds them again. Nothing accepted is lost."""
    dead_worker = Inbox(store.engine, clock=clock)
    fill(dead_worker, 2)
    assert len(dead_worker.claim()) == 2

    restarted = Inbox(Store(store_url, upgrade=True).engine, clock=clock)
    clock.now += timedelta(minutes=9)
    assert restarted.claim() == []  # still within the timeout: the worker may be alive
    clock.now += timedelta(minutes=2)
    again = restarted.claim()
    assert [e.delivery_id for e in again] == ["1", "2"]
    assert {e.attempts for e in again} == {2}
    restarted.engine.dispose()


def test_requeue_stale_gives_up_on_an_event_that_keeps_killing_workers(
    box: Inbox, clock: Clock
) -> None:
    fill(box, 1)
    for _ in range(2):
        box.claim()
        clock.now += timedelta(minutes=11)
    assert box.requeue_stale(max_attempts=2) == 1
    [event] = box.events()
    assert (event.status, event.error) == ("failed", "processing timed out")


def test_two_claimers_never_get_the_same_row(store: Store, store_url: str, clock: Clock) -> None:
    """Two workers with their own engines, claiming in turn, split the backlog exactly."""
    first = Inbox(store.engine, clock=clock)
    second_store = Store(store_url, upgrade=True)
    second = Inbox(second_store.engine, clock=clock)
    fill(first, 25)
    seen: list[int] = []
    while batch := first.claim(limit=4) + second.claim(limit=3):
        seen += [e.id for e in batch]
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 25
    second_store.engine.dispose()


def test_concurrent_claimers_on_postgres_split_the_backlog(store: Store, store_url: str) -> None:
    """Eight threads, each with its own engine, claim at once until the inbox is empty:
    every event is claimed exactly once (SELECT ... FOR UPDATE SKIP LOCKED)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL; SQLite claims are tested in turn")
    box = store.inbox
    box.add("hubspot", deliveries(*range(1, 401)))
    claimed: list[list[int]] = [[] for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(slot: int) -> None:
        engine = Store(store_url, upgrade=True).engine
        try:
            mine = Inbox(engine)
            start.wait()
            while batch := mine.claim(limit=7):
                claimed[slot] += [e.id for e in batch]
                mine.mark_done([e.id for e in batch])
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    every = [i for ids in claimed for i in ids]
    assert len(every) == 400 and len(set(every)) == 400
    assert box.counts()["done"] == 400


def test_claim_on_postgres_skips_rows_another_holds(store: Store) -> None:
    """While another transaction holds the oldest event locked, a claim takes the next ones
    at once instead of waiting (lock_timeout would fail it) or taking the held one."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers instead")
    box = store.inbox
    fill(box, 3)
    with store.engine.connect() as holder:
        holder.begin()
        held = holder.execute(
            select(inbox.c.id).order_by(inbox.c.id).limit(1).with_for_update()
        ).scalar_one()
        claimed = box.claim()
        holder.rollback()
    assert held not in [e.id for e in claimed]
    assert [e.delivery_id for e in claimed] == ["2", "3"]
    assert [e.delivery_id for e in box.claim()] == ["1"]


def _signed_jira(secret: str, identifier: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"id": "10001"}}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature": signature, "X-Atlassian-Webhook-Identifier": identifier}


def test_receiver_commits_before_answering(store: Store, store_url: str) -> None:
    """After the 202 the event is in the store: a process started afterwards (a crash and
    restart in between) finds it pending; the re-delivery is stored once."""
    settings = Settings(database_url=store_url, jira_webhook_secret=SecretStr("s3cret"))
    body, headers = _signed_jira("s3cret", "delivery-1")
    with TestClient(create_app(settings, store)) as client:
        assert client.post("/webhooks/jira", content=body, headers=headers).status_code == 202
        assert client.post("/webhooks/jira", content=body, headers=headers).status_code == 202
    store.engine.dispose()

    after_restart = Store(store_url, upgrade=True)
    [event] = after_restart.inbox.events()
    assert (event.tool, event.delivery_id, event.status) == ("jira", "delivery-1", "pending")
    assert event.payload["issue"] == {"id": "10001"}
    after_restart.engine.dispose()


def test_store_creates_the_inbox_table(store: Store) -> None:
    """`Store` creates the inbox with its other tables: nothing else to migrate by hand."""
    with store.engine.connect() as conn:
        assert conn.execute(select(inbox.c.id).limit(1)).all() == []
