"""One writer per issue: runs that overlap (two syncs started together, a manual one
beside a scheduled one) never both write an issue, so each issue keeps one comment."""

from __future__ import annotations

import socket
import subprocess
import threading
from datetime import timedelta
from typing import Any

from connectors.settings import Settings
from flows.pipeline import SyncResult, run_cycle
from store import Store
from store.leases import Leases, take_waiting
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import assert_ticket_shows, managed_comments
from tests.oracle import expected_demand


def test_two_syncs_started_together_leave_one_comment_per_issue(
    sandbox_url: str, any_store_url: str
) -> None:
    """Pins down the race where both runs read "no comment yet" from the ledger and both
    posted one (23 to 34 of 38 issues ended with two, for good)."""
    settings = Settings.for_sandbox(sandbox_url, database_url=any_store_url, **EXPLICIT_ONLY)
    Store(any_store_url, upgrade=True)  # the schema, once, before the racers open it
    start = threading.Barrier(2)
    results: list[SyncResult] = []
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            store = Store(any_store_url, upgrade=True)
            start.wait()
            results.append(run_cycle(settings, store))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    racers = [threading.Thread(target=sync) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(300)
    assert errors == [] and len(results) == 2
    expected = expected_demand(sandbox_url)
    assert sum(r.published["written"] for r in results) >= len(expected)
    for key in expected:
        assert len(managed_comments(sandbox_url, key)) == 1, key
    run_cycle(settings, Store(any_store_url, upgrade=True))
    assert_ticket_shows(sandbox_url, expected)


def test_a_lease_is_one_holders_until_released_or_expired(store: Store) -> None:
    first = Leases(store.engine, "first")
    second = Leases(store.engine, "second", ttl=timedelta(seconds=30))
    assert first.take({"issue:ANA-1", "issue:ANA-2"}) == {"issue:ANA-1", "issue:ANA-2"}
    assert second.take({"issue:ANA-2", "issue:ANA-3"}) == {"issue:ANA-3"}
    assert second.holders({"issue:ANA-2"}) == {"first"}
    first.release()
    assert second.take({"issue:ANA-2"}) == {"issue:ANA-2"}
    dead = Leases(store.engine, "dead", ttl=timedelta(seconds=-1))  # a holder that died
    assert dead.take({"issue:ANA-9"}) == {"issue:ANA-9"}
    assert first.take({"issue:ANA-9"}) == {"issue:ANA-9"}, "an expired lease is taken over"


def test_a_run_waits_for_a_lease_then_gives_up(store: Store) -> None:
    holder = Leases(store.engine, "holder")
    holder.take({"issue:ANA-1"})
    waiter = Leases(store.engine, "waiter")
    assert take_waiting(waiter, {"issue:ANA-1", "issue:ANA-2"}, 0.3, 0.1) == {"issue:ANA-2"}
    timer = threading.Timer(0.2, holder.release)
    timer.start()
    got: Any = take_waiting(waiter, {"issue:ANA-1"}, 5.0, 0.05)
    timer.join()
    assert got == {"issue:ANA-1"}


def test_a_run_killed_on_this_machine_frees_its_leases_at_once(store: Store) -> None:
    """A sync killed with -9 cannot release its leases; the next run on the same machine
    sees the holder's process is gone and takes them without waiting out the expiry."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    killed = Leases(store.engine, f"{socket.gethostname()}:{gone.pid}:dead", ttl=timedelta(hours=1))
    assert killed.take({"writer"}) == {"writer"}
    assert Leases(store.engine).take({"writer"}) == {"writer"}
