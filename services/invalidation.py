"""What a change to the stored records or links invalidates, and the writes that apply it.

The store says what it changed (records removed, the issues whose links moved); this
module decides what must be done again because of it, in the same transaction, so a crash
never keeps a change and loses its consequence:

- an issue whose links moved, or whose linked feedback or deal left, is pending (summed
  and published again);
- a deal or account that left moves a customer's revenue, pipeline or identity on every
  issue that customer asked for, which nothing stored can tell any more: every issue is
  pending;
- a tool link that left linked tickets only its payload knew: the next sync relinks all.

Callers change records and links through these functions when a change may remove or
move links; plain additions go to the repositories directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from models import Link, Record, RecordKind
from store import EVERY_ISSUE, RELINK_ALL, DeadLetter, Removal, Store


def removed(store: Store, conn: Connection, removals: Iterable[Removal]) -> None:
    """Mark what records that left the store invalidate."""
    for removal in removals:
        if removal.removed and removal.kind in (RecordKind.DEAL, RecordKind.ACCOUNT):
            store.ledger.mark_pending([EVERY_ISSUE], conn=conn)
        if removal.removed and removal.kind is RecordKind.TOOL_LINK:
            store.cursors.set(RELINK_ALL, "tool link deleted", conn=conn)
        # The issues the links of a record that left pointed at (its links left with it).
        store.ledger.mark_pending(removal.link_issue_keys, conn=conn)


def save_page(
    store: Store,
    page: Sequence[Record],
    dead: Sequence[DeadLetter] = (),
    stream: str | None = None,
    cursor: Any = None,
    deleted: tuple[str, str, Sequence[str]] | None = None,
) -> None:
    """`store.records.save_page`, with `deleted` (source, kind, ids) of records the tool
    no longer has, removed in the same transaction."""
    with store.transaction() as conn:
        store.records.save_page(page, dead, stream, cursor, conn=conn)
        if deleted and deleted[2]:
            source, kind, ids = deleted
            removed(store, conn, store.records.delete(source, RecordKind(kind), ids, conn=conn))


def prune(store: Store, source: str, kind: RecordKind | str, keep_ids: set[str]) -> int:
    """After a stream read in full: what the tool no longer has, the store drops. Returns
    how many of that kind went."""
    with store.transaction() as conn:
        gone = store.records.missing(source, RecordKind(kind), keep_ids, conn=conn)
        removed(store, conn, store.records.delete(source, RecordKind(kind), gone, conn=conn))
    return len(gone)


def replace_links(
    store: Store,
    owners: Iterable[tuple[str, str]],
    new: Iterable[Link],
    signatures: Mapping[tuple[str, str], str] | None = None,
) -> None:
    """`store.links.replace`; the issues whose links moved must be summed and published
    again."""
    with store.transaction() as conn:
        moved = store.links.replace(owners, new, signatures, conn=conn)
        store.ledger.mark_pending(moved, conn=conn)


def drop_orphan_links(store: Store) -> None:
    """`store.links.drop_orphans`; the issues those links counted on are pending."""
    with store.transaction() as conn:
        store.ledger.mark_pending(store.links.drop_orphans(conn=conn), conn=conn)
