"""The `handle-events` flow: what the webhooks of one inbox batch named, re-read from the
tools, relinked, and published onto just the issues it moves.

A webhook is a hint, never a source of truth: each record it names is read again through
the tool's API (connectors.lookup), so a forged body inside a valid signature changes
nothing the API does not say. When nothing read back differs from the store, the run
stops there: no relink, no publish, no write.

`handle` is the plain core (the dispatcher calls it in-process; tests call it), `process`
adds the inbox bookkeeping (done after success, back to pending with the error after a
failure), and `handle_events` is the Prefect flow: the dispatcher calls it too (a Prefect
flow run in the receiver's process), and the served deployment runs it.

The vendors' payload readers (each vendor's webhook module, through
`connectors.registry.hints`) say what a stored delivery changed; this is the one place a
flow reads them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from prefect import flow
from sqlalchemy import select, tuple_

from connectors import registry
from connectors.base import Page, convert
from connectors.lookup import InvalidRecord, Lookup, stored_kind
from connectors.registry import hints as hints_of
from connectors.settings import Settings
from connectors.webhook import Hint
from flows.pipeline import accounts_named, read_named_accounts
from flows.sync import settings_for
from models import Record, RecordKind
from services import invalidation
from services.apply import WRITER_LEASE, apply
from services.scope import Changes, Scope
from store import DeadLetter, Store
from store.inbox import DONE, InboxEvent
from store.leases import exclusive
from store.schema import records

log = logging.getLogger("pmsync.events")


@dataclass
class EventsResult:
    events: int = 0
    hints: int = 0
    reread: int = 0
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    dead_letters: int = 0
    issues: list[str] = field(default_factory=list)
    published: dict[str, int] = field(
        default_factory=lambda: {"written": 0, "unchanged": 0, "failed": 0}
    )
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"duration_s": round(self.duration_s, 3)}


def load_events(store: Store, event_ids: Iterable[int]) -> list[InboxEvent]:
    """The inbox rows of these ids, oldest first, whatever their status."""
    return store.inbox.events(ids=event_ids)


def hints_for(events: Iterable[InboxEvent]) -> list[Hint]:
    """The records the events name, each once: events on one record coalesce here."""
    return list(dict.fromkeys(h for event in events for h in hints_of(event.tool, event.payload)))


def _stored(store: Store, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], Any]:
    """The stored payloads of these (source, kind, record_id) keys."""
    if not keys:
        return {}
    column = tuple_(records.c.source, records.c.kind, records.c.record_id)
    found: dict[tuple[str, str, str], Any] = {}
    ordered = sorted(keys)
    with store.engine.connect() as conn:
        for start in range(0, len(ordered), 500):
            query = select(records.c.source, records.c.kind, records.c.record_id, records.c.payload)
            query = query.where(column.in_(ordered[start : start + 500]))
            for row in conn.execute(query):
                found[(row.source, row.kind, row.record_id)] = row.payload
    return found


def _issue_id(store: Store, key_or_id: str) -> str | None:
    """The tracker's webhooks name an issue by id or key; the store keeps it by id."""
    if key_or_id.isdigit():
        return key_or_id
    with store.engine.connect() as conn:
        for row in conn.execute(
            select(records.c.record_id, records.c.payload).where(
                records.c.source == registry.tracker().name, records.c.kind == "issue"
            )
        ):
            if str(row.payload.get("key", "")).upper() == key_or_id.upper():
                return str(row.record_id)
    return None


@dataclass
class Reread:
    """What the tools said about the hinted records."""

    changed: list[Record] = field(default_factory=list)
    deleted: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    dead: list[DeadLetter] = field(default_factory=list)
    links_changed: list[Record] = field(default_factory=list)  # tickets whose tool links moved
    before: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @property
    def anything(self) -> bool:
        return bool(self.changed or self.deleted or self.dead or self.links_changed)


def reread(
    settings: Settings, store: Store, hints: list[Hint], lookup: Lookup, result: EventsResult
) -> Reread:
    """Read every hinted record back from its tool and compare it with the store."""
    found = Reread()
    wanted: list[tuple[Hint, str]] = []
    for hint in hints:
        kind = stored_kind(hint.tool, hint.kind)
        if hint.tool not in registry.configured(settings) or kind is None:
            result.ignored.append(f"{hint.tool}/{hint.kind}/{hint.record_id}")
            continue
        wanted.append((hint, kind))
    found.before = _stored(store, {(h.tool, kind, h.record_id) for h, kind in wanted})
    for hint, kind in wanted:
        result.reread += 1
        try:
            record = lookup.fetch(hint.tool, hint.kind, hint.record_id)
        except InvalidRecord as bad:
            page = Page(hint.tool, kind, "events")
            convert(page, bad.raw, bad.build, raw_id=hint.record_id)
            found.dead += page.dead
            continue
        if record is None:
            record_id = _issue_id(store, hint.record_id) if kind == "issue" else hint.record_id
            if record_id and (hint.tool, kind, record_id) in _stored(
                store, {(hint.tool, kind, record_id)}
            ):
                found.deleted[(hint.tool, kind)].append(record_id)
                result.deleted.append(f"{hint.tool}/{kind}/{record_id}")
        else:
            key = (record.source, kind, record.id)
            before = found.before.get(key) or _stored(store, {key}).get(key)
            found.before.setdefault(key, before)
            if before != record.model_dump(mode="json"):
                found.changed.append(record)
                result.changed.append(f"{record.source}/{kind}/{record.id}")
        links = registry.vendor(hint.tool).tool_links
        holder = record if links and hint.kind == links[0] else None
        if holder is not None and _refresh_tool_links(store, lookup, hint.tool, hint.record_id):
            found.links_changed.append(holder)
    return found


def _refresh_tool_links(store: Store, lookup: Lookup, tool: str, record_id: str) -> bool:
    """The record's tracker links from its tool, stored as the tool has them now."""
    listed = lookup.tool_links(tool, record_id)
    if listed is None:
        return False  # the listing was refused: the stored links stay as they are
    now = {link.id: link for link in listed}
    stored = [
        link
        for link in store.records.load(RecordKind.TOOL_LINK, tool)
        if link.record_id == str(record_id)
    ]
    gone = [link.id for link in stored if link.id not in now]
    fresh = [link for link in now.values() if link not in stored]
    if gone or fresh:
        invalidation.save_page(store, fresh, deleted=(tool, "tool_link", gone))
    return bool(gone or fresh)


def handle(
    settings: Settings,
    store: Store,
    event_ids: Iterable[int],
    *,
    lookup: Lookup | None = None,
    now: datetime | None = None,
) -> EventsResult:
    """Re-read what the events name, store it, relink, and publish the issues it moves."""
    started = time.monotonic()
    result = EventsResult()
    events = load_events(store, event_ids)
    result.events = len(events)
    hints = hints_for(events)
    result.hints = len(hints)
    lookup = lookup or Lookup(settings)
    found = reread(settings, store, hints, lookup, result)
    if not found.anything:
        result.duration_s = time.monotonic() - started
        log.info("events %s: nothing changed", [e.id for e in events])
        return result

    changes = Changes(
        changed=tuple(found.changed),
        deleted=dict(found.deleted),
        links_changed=tuple(found.links_changed),
        before=found.before,
        owners=frozenset({(h.tool, h.record_id) for h in hints})
        | {(r.source, r.id) for r in found.changed},
        named=frozenset(
            h.record_id
            for h in hints
            if h.tool == registry.tracker().name and not h.record_id.isdigit()
        ),
        links_before=tuple(store.links.all()),  # read before the deletions below drop links
    )
    store.records.save_page(found.changed, found.dead)
    for (source, kind), ids in found.deleted.items():
        invalidation.save_page(store, [], deleted=(source, kind, ids))
    result.dead_letters = len(found.dead)
    # A new customer's company, read as a sync reads it.
    result.dead_letters += read_named_accounts(settings, store, accounts_named(found.changed))[1]
    done = apply(store, settings, Scope.these(changes), now=now)
    if done.report is not None:
        result.issues = sorted(done.issues)
        result.published = done.report.counts()
    result.duration_s = time.monotonic() - started
    log.info("events %s: %s", [e.id for e in events], result.as_dict())
    return result


def process(
    settings: Settings,
    store: Store,
    event_ids: Iterable[int],
    *,
    lookup: Lookup | None = None,
) -> EventsResult:
    """`handle`, then the inbox: done after success, pending again (with the error) after a
    failure. Events already done (a run started twice for one batch) are skipped."""
    inbox_ = store.inbox
    ids = [e.id for e in load_events(store, event_ids) if e.status != DONE]
    if not ids:
        return EventsResult()
    try:
        # Beside a sync, events wait for it to finish linking and publishing (a failure
        # to get the store in time leaves the events pending, retried later).
        with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "writing"):
            result = handle(settings, store, ids, lookup=lookup)
    except Exception as error:
        inbox_.mark_failed(ids, f"{type(error).__name__}: {error}"[:500])
        raise
    inbox_.mark_done(ids)
    return result


@flow(name="handle-events", log_prints=True)
def handle_events(
    event_ids: list[int],
    sandbox_url: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Re-read the records a batch of webhooks named, relink them and republish only the
    issues they move. Called by the dispatcher of `pmsync webhooks` (or started through
    the deployment, with the batch's claim token as idempotency key); credentials and the
    store's URL come from the environment (or the sandbox's); a `database_url` parameter
    with a password is refused (Prefect stores parameters)."""
    settings = settings_for(sandbox_url, database_url)
    result = process(settings, Store(settings.database_url, upgrade=True), event_ids)
    return result.as_dict()
