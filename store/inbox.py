"""The webhook inbox: every accepted delivery, committed before the vendor hears 202.

A row moves pending -> processing (claimed) -> done, or back to pending on a failure
until its attempts run out (then failed). A worker that dies holding a claim leaves its
rows in processing; `requeue_stale` (also run by every `claim`) returns them to pending,
so nothing accepted is ever lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from store.schema import metadata, moment, numbered_id

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
STATUSES = (PENDING, PROCESSING, DONE, FAILED)

# A claim older than this is a worker that died: its rows go back to pending.
PROCESSING_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 5

inbox = Table(
    "inbox",
    metadata,
    numbered_id(),
    Column("tool", String(32), nullable=False),
    # The vendor's delivery id (or a hash of the body where the vendor sends none): a
    # re-delivery hits the unique constraint and stores nothing new.
    Column("delivery_id", String(255), nullable=False),
    moment("received_at"),
    Column("payload", JSON, nullable=False),
    # The vendor's delivery headers worth keeping (ids, retry counts, timestamps); never
    # signatures or shared secrets.
    Column("headers", JSON, nullable=False),
    Column("status", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claim", String(36)),
    moment("claimed_at", nullable=True),
    moment("processed_at", nullable=True),
    Column("error", Text),
    # A hash of what the vendor signed of the event: a replayed body is the same event
    # whatever unsigned identifier it carries (a tool's identifier header may be unsigned).
    # Null where the signed content does not tell two events apart (author-written bodies).
    Column("fingerprint", String(80)),
    UniqueConstraint("tool", "delivery_id", name="uq_inbox_tool_delivery"),
    UniqueConstraint("tool", "fingerprint", name="uq_inbox_tool_fingerprint"),
    Index("ix_inbox_status_id", "status", "id"),
)


@dataclass(frozen=True)
class Delivery:
    """One event as the receiver hands it to the inbox."""

    delivery_id: str
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    fingerprint: str | None = None  # a hash of the signed content that names one event


@dataclass(frozen=True)
class InboxEvent:
    """A stored delivery, as a claimer sees it."""

    id: int
    tool: str
    delivery_id: str
    received_at: datetime
    payload: Any
    headers: dict[str, str]
    status: str
    attempts: int
    claim: str | None
    error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _event(row: Any) -> InboxEvent:
    return InboxEvent(
        id=row.id,
        tool=row.tool,
        delivery_id=row.delivery_id,
        received_at=_aware(row.received_at),
        payload=row.payload,
        headers=row.headers,
        status=row.status,
        attempts=row.attempts,
        claim=row.claim,
        error=row.error,
    )


class Inbox:
    """The inbox over the store's engine: `Inbox(store.engine)`."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, tool: str, deliveries: Sequence[Delivery]) -> int:
        """Store these deliveries in one transaction; return how many were new.

        Idempotent: a delivery whose id or fingerprint is already stored for this tool is
        skipped, whatever its status, so a vendor's retry (or a captured body replayed under
        a new identifier) is not handled again.
        """
        if not deliveries:
            return 0
        now = self.clock()
        with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            new = 0
            for delivery in deliveries:
                statement = (
                    insert(inbox)
                    .values(
                        tool=tool,
                        delivery_id=delivery.delivery_id,
                        received_at=now,
                        payload=delivery.payload,
                        headers=delivery.headers,
                        status=PENDING,
                        attempts=0,
                        fingerprint=delivery.fingerprint,
                    )
                    .on_conflict_do_nothing()  # either unique key: (id) or (fingerprint)
                    .returning(inbox.c.id)
                )
                # rowcount is -1 on PostgreSQL here; a returned id is a row inserted.
                new += len(conn.execute(statement).all())
            return new

    def claim(self, limit: int = 100, timeout: timedelta = PROCESSING_TIMEOUT) -> list[InboxEvent]:
        """Take up to `limit` pending events, oldest first, for this caller alone.

        On PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`: concurrent claimers split the
        backlog instead of queueing behind one another. On SQLite the pick and the update
        are one statement, which SQLite runs under its database write lock. Every event of
        one claim carries the same `claim` token (an idempotency key for the batch).
        """
        self.requeue_stale(timeout)
        token = str(uuid.uuid4())
        with self.engine.begin() as conn:
            pick = (
                select(inbox.c.id)
                .where(inbox.c.status == PENDING)
                .order_by(inbox.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                # Materialized, so the pick runs once: re-scanned by the update, a plain
                # subquery picks again past the rows just updated and exceeds the limit.
                picked = pick.with_for_update(skip_locked=True).cte("picked")
                picked = picked.prefix_with("MATERIALIZED")
            else:
                picked = pick.cte("picked")
            conn.execute(
                update(inbox)
                .where(inbox.c.id.in_(select(picked.c.id)), inbox.c.status == PENDING)
                .values(
                    status=PROCESSING,
                    attempts=inbox.c.attempts + 1,
                    claim=token,
                    claimed_at=self.clock(),
                )
            )
            rows = conn.execute(select(inbox).where(inbox.c.claim == token).order_by(inbox.c.id))
            return [_event(row) for row in rows]

    def mark_done(self, ids: Iterable[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(inbox)
                .where(inbox.c.id.in_(list(ids)))
                .values(status=DONE, processed_at=self.clock(), claim=None, error=None)
            )

    def mark_failed(self, ids: Iterable[int], error: str, max_attempts: int = MAX_ATTEMPTS) -> None:
        """Back to pending for another try, or failed for good once attempts run out.

        `error` is kept for admins: say what failed, never echo the payload or a secret.
        """
        ids = list(ids)
        with self.engine.begin() as conn:
            for status, spent in ((PENDING, False), (FAILED, True)):
                exhausted = inbox.c.attempts >= max_attempts
                conn.execute(
                    update(inbox)
                    .where(inbox.c.id.in_(ids), exhausted if spent else ~exhausted)
                    .values(
                        status=status,
                        claim=None,
                        error=error,
                        processed_at=self.clock() if spent else None,
                    )
                )

    def requeue_stale(
        self, timeout: timedelta = PROCESSING_TIMEOUT, max_attempts: int = MAX_ATTEMPTS
    ) -> int:
        """Rows held in processing longer than `timeout` belong to a worker that died:
        back to pending (or failed, when that event has already used all its attempts,
        so one poisonous event cannot kill workers forever). Returns the rows moved."""
        cutoff = self.clock() - timeout
        stale = (inbox.c.status == PROCESSING) & (inbox.c.claimed_at < cutoff)
        with self.engine.begin() as conn:
            retried = conn.execute(
                update(inbox)
                .where(stale, inbox.c.attempts < max_attempts)
                .values(status=PENDING, claim=None, error="processing timed out")
            ).rowcount
            given_up = conn.execute(
                update(inbox)
                .where(stale, inbox.c.attempts >= max_attempts)
                .values(
                    status=FAILED,
                    claim=None,
                    error="processing timed out",
                    processed_at=self.clock(),
                )
            ).rowcount
            return retried + given_up

    def backlog(self, tool: str | None = None) -> int:
        """Events accepted and not yet handled: pending plus processing."""
        query = select(func.count()).where(inbox.c.status.in_((PENDING, PROCESSING)))
        if tool:
            query = query.where(inbox.c.tool == tool)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def counts(self) -> dict[str, int]:
        """Rows per status, every status present (zero when none)."""
        query = select(inbox.c.status, func.count()).group_by(inbox.c.status)
        counts = dict.fromkeys(STATUSES, 0)
        with self.engine.connect() as conn:
            for status, n in conn.execute(query):
                counts[status] = n
        return counts

    def events(
        self,
        tool: str | None = None,
        status: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[InboxEvent]:
        """Stored events in arrival order, of a tool, a status or these ids."""
        query = select(inbox).order_by(inbox.c.id)
        if tool:
            query = query.where(inbox.c.tool == tool)
        if status:
            query = query.where(inbox.c.status == status)
        if ids is None:
            with self.engine.connect() as conn:
                return [_event(row) for row in conn.execute(query)]
        wanted = sorted({int(i) for i in ids})
        found: list[InboxEvent] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = query.where(inbox.c.id.in_(wanted[start : start + 500]))
                found += [_event(row) for row in conn.execute(chunk)]
        return found
