"""Leases: one writer per tracker issue at a time, across processes and machines.

A scheduled sync, a manual one, a backfill and webhook-triggered runs may all want to
write the same issue. Prefect's deployment concurrency limits cover runs of one deployment
only, so the store itself arbitrates: a run takes a lease row per issue before writing it,
keeps it alive while it works, and drops it when done. A lease whose holder died expires
after `ttl` and is taken over. The rows live in the store every writer already shares, on
SQLite and PostgreSQL alike (an INSERT that a unique key refuses is the lock).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, String, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.schema import metadata

leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),  # e.g. "issue:ANA-12"
    Column("holder", String(120), nullable=False),  # host, pid and a random part
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

TTL = timedelta(minutes=2)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _died_here(holder: str) -> bool:
    """Whether a holder ran on this machine in a process that no longer exists (killed,
    crashed): its leases need not wait out their expiry."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class Leases:
    """Take, keep alive and drop named leases for one holder."""

    def __init__(self, engine: Engine, holder: str | None = None, ttl: timedelta = TTL) -> None:
        self.engine = engine
        self.holder = holder or holder_name()
        self.ttl = ttl

    def take(self, names: Iterable[str]) -> set[str]:
        """The names this holder now holds among `names` (those free, expired or its own)."""
        wanted = sorted(set(names))
        if not wanted:
            return set()
        now = datetime.now(UTC)
        held: set[str] = set()
        with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                conn.execute(
                    delete(leases).where(leases.c.name.in_(chunk), leases.c.expires_at < now)
                )
                holders = set(
                    conn.execute(select(leases.c.holder).where(leases.c.name.in_(chunk))).scalars()
                )
                dead = [h for h in holders if _died_here(h)]
                if dead:  # a run killed on this machine frees its leases at once
                    conn.execute(delete(leases).where(leases.c.holder.in_(dead)))
                rows = [
                    {"name": n, "holder": self.holder, "expires_at": now + self.ttl} for n in chunk
                ]
                conn.execute(insert(leases).values(rows).on_conflict_do_nothing())
                query = select(leases.c.name).where(
                    leases.c.name.in_(chunk), leases.c.holder == self.holder
                )
                held.update(conn.execute(query).scalars())
        return held

    def renew(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.holder == self.holder)
                .values(expires_at=datetime.now(UTC) + self.ttl)
            )

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.holder == self.holder))

    def holders(self, names: Iterable[str]) -> set[str]:
        """Who holds any of `names` now (for messages)."""
        with self.engine.connect() as conn:
            query = select(leases.c.holder).where(
                leases.c.name.in_(sorted(set(names))),
                leases.c.expires_at >= datetime.now(UTC),
            )
            return set(conn.execute(query).scalars())

    @contextmanager
    def kept_alive(self) -> Iterator[Leases]:
        """Renew this holder's leases in the background until the block ends, then drop
        them: a long publish keeps its issues; a crashed one frees them after `ttl`."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.ttl.total_seconds() / 4):
                try:
                    self.renew()
                except Exception:  # a missed beat only shortens the lease; the next tries
                    continue

        thread = threading.Thread(target=beat, name="pmsync-lease", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.release()


def take_waiting(lease: Leases, names: set[str], wait_s: float, poll_s: float = 0.5) -> set[str]:
    """Take what is free now, then wait up to `wait_s` for the rest (another run writing
    them); returns what this holder got."""
    got = lease.take(names)
    deadline = time.monotonic() + wait_s
    while got != names and time.monotonic() < deadline:
        time.sleep(poll_s)
        got |= lease.take(names - got)
    return got


class LeaseBusy(Exception):
    """Another run holds the lease; the message says who and what to do."""


@contextmanager
def exclusive(engine: Engine, name: str, wait_s: float, what: str) -> Iterator[Leases]:
    """Hold the store-wide lease `name` for the block (waiting up to `wait_s` for it), or
    raise LeaseBusy naming the run that holds it. `what` says what the block does."""
    lease = Leases(engine)
    if not take_waiting(lease, {name}, wait_s):
        holders = ", ".join(sorted(lease.holders({name}))) or "a run that just finished"
        raise LeaseBusy(
            f"another pmsync run ({holders}) is {what} on this store; this one waited "
            f"{wait_s:g} s (PMSYNC_LEASE_WAIT_S) and stopped: what it read is stored, and the "
            "run holding the store or the next one publishes it"
        )
    with lease.kept_alive():
        yield lease
