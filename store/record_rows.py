"""Record rows: the models of each kind, and the writes that keep records and their links
together (upserts of what changed, deletions with the links and remote links they take)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, cast, delete, select

from models import Account, Deal, Feedback, Issue, Record, RecordKind, ToolLink
from store.base import chunks, now, upsert
from store.schema import links, records

# A record's payload as the JSON text stored: pydantic parses and validates it in one pass, a
# third faster than decoding it to Python objects first (30,000 feedback items: 0.5 s, not 0.8).
PAYLOAD_TEXT = cast(records.c.payload, Text)

MODELS: dict[RecordKind, type[Record]] = {
    RecordKind.ISSUE: Issue,
    RecordKind.FEEDBACK: Feedback,
    RecordKind.DEAL: Deal,
    RecordKind.ACCOUNT: Account,
    RecordKind.TOOL_LINK: ToolLink,
}


def kind_of(record: Record) -> RecordKind:
    for kind, model in MODELS.items():
        if isinstance(record, model):
            return kind
    raise TypeError(f"not a stored record type: {type(record).__name__}")


@dataclass(frozen=True)
class Removal:
    """Records deleted from the store: how many rows went, and the issues that the links
    dropped with them (feedback and deals) pointed at. What that invalidates is for the
    caller to say (`services.invalidation`)."""

    source: str
    kind: RecordKind
    ids: tuple[str, ...]
    removed: int
    link_issue_keys: frozenset[str] = frozenset()


def upsert_records(conn: Connection, page: Sequence[Record]) -> None:
    """Write the records whose payload changed; one read again unchanged keeps its
    synced_at, so `changed_since` sees only real changes."""
    stamp = now()
    rows: list[dict[str, Any]] = [
        {
            "source": r.source,
            "kind": kind_of(r).value,
            "record_id": r.id,
            "updated_at": r.updated_at,
            "payload": r.model_dump(mode="json"),
            "synced_at": stamp,
        }
        for r in page
    ]
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        groups.setdefault((row["source"], row["kind"]), []).append(row["record_id"])
    stored: dict[tuple[str, str, str], Any] = {}
    for (source, kind), ids in groups.items():
        for chunk in chunks(ids):
            query = select(records.c.record_id, records.c.payload).where(
                records.c.source == source,
                records.c.kind == kind,
                records.c.record_id.in_(chunk),
            )
            for record_id, payload in conn.execute(query):
                stored[(source, kind, record_id)] = payload
    changed = [
        row
        for row in rows
        if stored.get((row["source"], row["kind"], row["record_id"])) != row["payload"]
    ]
    upsert(conn, records, ["source", "kind", "record_id"], changed)


def delete_records(
    conn: Connection, source: str, kind: RecordKind, ids: list[str]
) -> list[Removal]:
    removals: list[Removal] = []
    for chunk in chunks(ids):
        if kind is RecordKind.ISSUE:
            removals += _delete_remote_links(conn, source, chunk)
        removed = conn.execute(
            delete(records).where(
                records.c.source == source,
                records.c.kind == kind,
                records.c.record_id.in_(chunk),
            )
        ).rowcount
        keys: frozenset[str] = frozenset()
        if kind in (RecordKind.FEEDBACK, RecordKind.DEAL):
            gone = (links.c.source == source) & links.c.record_id.in_(chunk)
            keys = frozenset(conn.execute(select(links.c.issue_key).where(gone)).scalars())
            conn.execute(delete(links).where(gone))
        removals.append(Removal(source, kind, tuple(chunk), removed, keys))
    return removals


def _delete_remote_links(conn: Connection, source: str, issue_ids: list[str]) -> list[Removal]:
    """An issue's remote links live in the tracker with the issue: when it goes, they go."""
    keys = {
        payload.get("key")
        for payload in conn.execute(
            select(records.c.payload).where(
                records.c.source == source,
                records.c.kind == RecordKind.ISSUE,
                records.c.record_id.in_(issue_ids),
            )
        ).scalars()
    }
    remote = conn.execute(
        select(records.c.record_id, records.c.payload).where(
            records.c.source == source, records.c.kind == RecordKind.TOOL_LINK
        )
    )
    gone = [row.record_id for row in remote if row.payload.get("issue_key") in keys]
    return delete_records(conn, source, RecordKind.TOOL_LINK, gone) if gone else []
