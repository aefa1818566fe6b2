"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    cast,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from models import Account, Deal, Feedback, Issue, Link, Record, ToolLink
from store.migrations import upgrade_to_head
from store.schema import (
    backfills,
    cursors,
    dead_letters,
    demand_history,
    derived,
    issue_signatures,
    issue_states,
    link_decisions,
    links,
    loop_notes,
    pending_issues,
    publish_ledger,
    record_signatures,
    records,
    runs,
    text_analyses,
)

# A record's payload as the JSON text stored: pydantic parses and validates it in one pass, a
# third faster than decoding it to Python objects first (30,000 feedback items: 0.5 s, not 0.8).
PAYLOAD_TEXT = cast(records.c.payload, Text)

MODELS: dict[str, type[Record]] = {
    "issue": Issue,
    "feedback": Feedback,
    "deal": Deal,
    "account": Account,
    "tool_link": ToolLink,
}


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed validation: kept raw, with the reason, for a later replay.

    `context` is what else the connector's builder read besides the raw record (Zendesk's
    sideloaded requester, HubSpot's associated companies, ...): it is stored in the
    payload under `_context`, so a replay can rebuild the record without the tool."""

    source: str
    kind: str
    record_id: str | None
    reason: str
    payload: Any
    context: dict[str, Any] | None = None

    def stored_payload(self) -> Any:
        if self.context is not None and isinstance(self.payload, dict):
            return {**self.payload, CONTEXT_KEY: self.context}
        return self.payload


# The key of a dead letter's payload that holds pmsync's context, not the tool's data.
CONTEXT_KEY = "_context"
# A pending mark for every issue at once, and the cursor that asks the next sync to relink
# every record: what a deletion leaves when the store cannot tell which issues it moved.
EVERY_ISSUE = "*"
RELINK_ALL = "pipeline:relink-all"


class BackfillConflict(RuntimeError):
    """Another process moved this backfill's checkpoint: two runs of one backfill."""


@dataclass(frozen=True)
class LedgerEntry:
    issue_key: str
    content_hash: str
    comment_id: str | None
    summary: dict[str, Any]


def kind_of(record: Record) -> str:
    for kind, model in MODELS.items():
        if isinstance(record, model):
            return kind
    raise TypeError(f"not a stored record type: {type(record).__name__}")


def _now() -> datetime:
    return datetime.now(UTC)


def _group(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Record ids by (source, kind)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        groups.setdefault((row["source"], row["kind"]), []).append(row["record_id"])
    return groups


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


log = logging.getLogger("pmsync.store")
WAL_ATTEMPTS = 10  # see _sqlite_pragmas


def _by_issue_key(table: Any, keys: Iterable[str] | None) -> list[Any]:
    """Queries for a table's rows of these issues (all rows when None), 500 keys a query."""
    if keys is None:
        return [select(table)]
    wanted = sorted(set(keys))
    return [
        select(table).where(table.c.issue_key.in_(wanted[i : i + 500]))
        for i in range(0, len(wanted), 500)
    ]


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Write-ahead logging: readers (the webhook runner, `pmsync status`) no longer wait
    for a sync's writes, and a commit is an append, not a journal and two syncs to disk
    (0.6 ms down to 0.01 ms: a publish commits once per issue). With synchronous=NORMAL a
    power cut may lose the last commits but never corrupts the file; a run that lost its
    ledger entries finds its comments again by the issue property.

    The mode is kept in the file, so only the first connection to a store changes it. That
    change needs the database to itself: connections opening a new store together (workers
    started at once) may find it busy, and SQLite then answers "database is locked" without
    waiting. They try again, and a connection that never gets it carries on in the rollback
    journal, whose default sync it keeps."""
    cursor = connection.cursor()
    try:
        for attempt in range(WAL_ATTEMPTS):
            try:
                mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                    log.debug("SQLite store stays in its journal mode: %s", error)
                    return
                time.sleep(0.05 * (attempt + 1))
        if mode == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class Store:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade_to_head(self.engine)

    # -- records ----------------------------------------------------------------------------

    def save_page(
        self,
        page: Sequence[Record],
        dead: Sequence[DeadLetter] = (),
        stream: str | None = None,
        cursor: Any = None,
        deleted: tuple[str, str, Sequence[str]] | None = None,
    ) -> None:
        """Store a page, its dead letters and the cursor after it in one transaction,
        so a crash can never advance the cursor past records that were not kept."""
        with self.engine.begin() as conn:
            self._upsert_records(conn, page)
            if deleted and deleted[2]:
                self._delete_records(conn, *deleted)
            dead = self._new_letters(conn, dead)
            if dead:
                conn.execute(
                    dead_letters.insert(),
                    [
                        {
                            "source": d.source,
                            "kind": d.kind,
                            "record_id": d.record_id,
                            "reason": d.reason,
                            "payload": d.stored_payload(),
                            "created_at": _now(),
                            "resolved": False,
                        }
                        for d in dead
                    ],
                )
            if stream is not None:
                self._upsert(
                    conn,
                    cursors,
                    ["stream"],
                    [{"stream": stream, "value": cursor, "updated_at": _now()}],
                )

    def _new_letters(self, conn: Connection, dead: Sequence[DeadLetter]) -> list[DeadLetter]:
        """A bad record read again (lookback, re-runs) is one letter, not one per read."""
        if not dead:
            return []
        ids = [d.record_id for d in dead if d.record_id is not None]
        query = select(
            dead_letters.c.source,
            dead_letters.c.kind,
            dead_letters.c.record_id,
            dead_letters.c.reason,
        ).where(dead_letters.c.resolved.is_(False), dead_letters.c.record_id.in_(ids))
        known = {tuple(row) for row in conn.execute(query)}
        return [d for d in dead if (d.source, d.kind, d.record_id, d.reason) not in known]

    def _upsert_records(self, conn: Connection, page: Sequence[Record]) -> None:
        """Write the records whose payload changed; one read again unchanged keeps its
        synced_at, so `changed_since` sees only real changes."""
        now = _now()
        rows: list[dict[str, Any]] = [
            {
                "source": r.source,
                "kind": kind_of(r),
                "record_id": r.id,
                "updated_at": r.updated_at,
                "payload": r.model_dump(mode="json"),
                "synced_at": now,
            }
            for r in page
        ]
        stored: dict[tuple[str, str, str], Any] = {}
        for (source, kind), ids in _group(rows).items():
            for start in range(0, len(ids), 500):
                query = select(records.c.record_id, records.c.payload).where(
                    records.c.source == source,
                    records.c.kind == kind,
                    records.c.record_id.in_(ids[start : start + 500]),
                )
                for record_id, payload in conn.execute(query):
                    stored[(source, kind, record_id)] = payload
        changed = [
            row
            for row in rows
            if stored.get((row["source"], row["kind"], row["record_id"])) != row["payload"]
        ]
        self._upsert(conn, records, ["source", "kind", "record_id"], changed)

    def iter_load(
        self, kind: str, source: str | None = None, size: int = 5000
    ) -> Iterator[list[Any]]:
        """`load` a chunk at a time, for callers that must not hold every record at once."""
        query = select(PAYLOAD_TEXT).where(records.c.kind == kind)
        if source:
            query = query.where(records.c.source == source)
        model = MODELS[kind]
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
            for rows in result.partitions(size):
                chunk = [model.model_validate_json(text) for (text,) in rows]
                del rows  # the JSON texts are as big as the chunk: not kept while it is used
                yield chunk

    def changed_since(self, kind: str, since: datetime | None) -> list[Any]:
        """The records of a kind whose payload changed after `since` (all, when None)."""
        query = select(PAYLOAD_TEXT).where(records.c.kind == kind)
        if since is not None:
            query = query.where(records.c.synced_at > since)
        model = MODELS[kind]
        with self.engine.connect() as conn:
            return [model.model_validate_json(text) for (text,) in conn.execute(query)]

    def load_pairs(self, kind: str, pairs: Iterable[tuple[str, str]]) -> list[Any]:
        """The records of a kind with these (source, id)."""
        model = MODELS[kind]
        found = []
        with self.engine.connect() as conn:
            for source, ids in _by_source(pairs):
                query = select(PAYLOAD_TEXT).where(
                    records.c.source == source, records.c.kind == kind, records.c.record_id.in_(ids)
                )
                found += [model.model_validate_json(text) for (text,) in conn.execute(query)]
        return found

    def mentioning(self, kinds: Sequence[str], needles: Iterable[str]) -> set[tuple[str, str]]:
        """(source, id) of the records of these kinds whose payload contains any needle,
        in any case: a coarse filter (callers check what they find), so a few changed
        issues need not read every record."""
        needles = sorted(set(needles))
        found: set[tuple[str, str]] = set()
        text = cast(records.c.payload, Text)
        with self.engine.connect() as conn:
            # SQLite's LIKE already ignores case, for ASCII letters only, as its lower() folds
            # only those: `icontains` (lower() of every payload once per needle) finds the
            # same records at twice the cost.
            sqlite = conn.dialect.name == "sqlite"
            for start in range(0, len(needles), 50):
                chunk = needles[start : start + 50]
                query = select(records.c.source, records.c.record_id).where(
                    records.c.kind.in_(kinds),
                    or_(
                        *(
                            text.contains(needle, autoescape=True)
                            if sqlite
                            else text.icontains(needle, autoescape=True)
                            for needle in chunk
                        )
                    ),
                )
                found.update((row.source, row.record_id) for row in conn.execute(query))
        return found

    def _upsert(
        self, conn: Connection, table: Any, keys: list[str], rows: list[dict[str, Any]]
    ) -> None:
        if not rows:
            return
        dialect = conn.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(table)
        updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)

    def issue_keys(self) -> set[str]:
        """The keys of the stored issues, read from the payloads without loading them."""
        query = select(records.c.payload["key"].as_string()).where(records.c.kind == "issue")
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def issue_marks(self) -> dict[str, tuple[list[str], bool]]:
        """Each issue's labels, and whether it carried pmsync's property when read, from
        the payloads without loading the issues."""
        payload = records.c.payload
        query = select(
            payload["key"].as_string(), payload["labels"], payload["published"].as_boolean()
        ).where(records.c.kind == "issue")
        with self.engine.connect() as conn:
            return {row[0]: (list(row[1] or ()), bool(row[2])) for row in conn.execute(query)}

    def versions(self, kind: str) -> list[tuple[str, str, str]]:
        """(source, id, when its payload last changed) of every record of a kind, in order:
        what a value derived from those records is fingerprinted with."""
        query = (
            select(records.c.source, records.c.record_id, records.c.synced_at)
            .where(records.c.kind == kind)
            .order_by(records.c.source, records.c.record_id)
        )
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2].isoformat()) for row in conn.execute(query)]

    def load(self, kind: str, source: str | None = None) -> list[Any]:
        return [record for chunk in self.iter_load(kind, source) for record in chunk]

    def _delete_records(self, conn: Connection, source: str, kind: str, ids: Sequence[str]) -> None:
        """Records gone from their tool leave the store with their links."""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            if kind == "issue":
                self._delete_remote_links(conn, source, chunk)
            removed = conn.execute(
                delete(records).where(
                    records.c.source == source,
                    records.c.kind == kind,
                    records.c.record_id.in_(chunk),
                )
            ).rowcount
            if removed and kind in ("deal", "account"):
                # A customer's revenue and pipeline, or who the customer is, moved: on
                # every issue that customer asked for, which the store cannot tell.
                self._mark_pending(conn, [EVERY_ISSUE])
            if removed and kind == "tool_link":
                # The tickets it linked are known only to its payload, gone now: relink all.
                row = {"stream": RELINK_ALL, "value": "tool link deleted", "updated_at": _now()}
                self._upsert(conn, cursors, ["stream"], [row])
            if kind in ("feedback", "deal"):
                gone = (links.c.source == source) & links.c.record_id.in_(chunk)
                keys = conn.execute(select(links.c.issue_key).where(gone)).scalars()
                self._mark_pending(conn, keys)
                conn.execute(delete(links).where(gone))

    def _delete_remote_links(self, conn: Connection, source: str, issue_ids: list[str]) -> None:
        """An issue's remote links live in Jira with the issue: when it goes, they go."""
        keys = {
            payload.get("key")
            for payload in conn.execute(
                select(records.c.payload).where(
                    records.c.source == source,
                    records.c.kind == "issue",
                    records.c.record_id.in_(issue_ids),
                )
            ).scalars()
        }
        remote = conn.execute(
            select(records.c.record_id, records.c.payload).where(
                records.c.source == source, records.c.kind == "tool_link"
            )
        )
        gone = [row.record_id for row in remote if row.payload.get("issue_key") in keys]
        if gone:
            self._delete_records(conn, source, "tool_link", gone)

    def newest_change(self, source: str) -> datetime | None:
        """When the newest record stored from this tool last changed in it."""
        query = select(func.max(records.c.updated_at)).where(records.c.source == source)
        with self.engine.connect() as conn:
            return _aware(conn.execute(query).scalar_one_or_none())

    def prune_count(self, source: str, kind: str, keep_ids: set[str]) -> tuple[int, int]:
        """(records a prune would drop, records stored) of one source's kind."""
        with self.engine.connect() as conn:
            stored = set(
                conn.execute(
                    select(records.c.record_id).where(
                        records.c.source == source, records.c.kind == kind
                    )
                ).scalars()
            )
        return len(stored - keep_ids), len(stored)

    def prune(self, source: str, kind: str, keep_ids: set[str]) -> int:
        """After a stream read in full: what the tool no longer has, the store drops."""
        with self.engine.begin() as conn:
            stored = set(
                conn.execute(
                    select(records.c.record_id).where(
                        records.c.source == source, records.c.kind == kind
                    )
                ).scalars()
            )
            gone = sorted(stored - keep_ids)
            self._delete_records(conn, source, kind, gone)
            return len(gone)

    def count_records(self) -> dict[str, dict[str, int]]:
        query = select(records.c.source, records.c.kind, func.count()).group_by(
            records.c.source, records.c.kind
        )
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for source, kind, n in conn.execute(query):
                counts.setdefault(source, {})[kind] = n
        return counts

    # -- cursors ----------------------------------------------------------------------------

    def cursor(self, stream: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(cursors.c.value).where(cursors.c.stream == stream)
            ).scalar_one_or_none()

    def cursors(self) -> dict[str, tuple[Any, datetime]]:
        with self.engine.connect() as conn:
            return {
                row.stream: (row.value, row.updated_at) for row in conn.execute(select(cursors))
            }

    def set_cursor(self, stream: str, value: Any) -> None:
        with self.engine.begin() as conn:
            row = {"stream": stream, "value": value, "updated_at": _now()}
            self._upsert(conn, cursors, ["stream"], [row])

    def reset_cursors(self, prefix: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(cursors).where(cursors.c.stream.startswith(prefix)))

    # -- links ------------------------------------------------------------------------------

    def drop_orphan_links(self) -> None:
        """Drop the links (and signatures) of records no longer stored, marking their
        issues pending: what a relink of every record, which replaces links a chunk of
        records at a time (each chunk its own transaction, so a webhook's write waits for a
        chunk, not the whole relink), does last."""
        stored = (
            select(records.c.record_id)
            .where(
                records.c.kind == links.c.kind,
                records.c.source == links.c.source,
                records.c.record_id == links.c.record_id,
            )
            .exists()
        )
        signed = (
            select(records.c.record_id)
            .where(
                records.c.source == record_signatures.c.source,
                # The kinds named, so each row is found through the primary key, not by
                # scanning its source's records.
                records.c.kind.in_(("feedback", "deal")),
                records.c.record_id == record_signatures.c.record_id,
            )
            .exists()
        )
        with self.engine.begin() as conn:
            orphans = select(links.c.issue_key).where(~stored).distinct()
            self._mark_pending(conn, list(conn.execute(orphans).scalars()))
            conn.execute(delete(links).where(~stored))
            conn.execute(delete(record_signatures).where(~signed))

    def record_signatures(self, owners: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """What linking last read of these (source, record_id) feedback items and deals."""
        found = {}
        c = record_signatures.c
        with self.engine.connect() as conn:
            for source, ids in _by_source(owners):
                query = select(c.record_id, c.signature).where(
                    c.source == source, c.record_id.in_(ids)
                )
                found.update({(source, rid): sig for rid, sig in conn.execute(query)})
        return found

    def replace_links(
        self,
        owners: Iterable[tuple[str, str]],
        new: Iterable[Link],
        signatures: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """Make `new` the links of these (source, record_id) owners, in one transaction,
        and `signatures` what linking read of them (`services.links.record_signature`);
        an owner without one (gone from the store) loses its signature with its links."""
        rows = [link.model_dump() for link in new]
        signatures = signatures or {}
        with self.engine.begin() as conn:
            before: set[tuple[Any, ...]] = set()
            for source, ids in _by_source(owners):
                owned = (links.c.source == source) & links.c.record_id.in_(ids)
                before.update(tuple(row) for row in conn.execute(select(links).where(owned)))
                conn.execute(delete(links).where(owned))
                unsigned = [i for i in ids if (source, i) not in signatures]
                if unsigned:
                    c = record_signatures.c
                    gone = (c.source == source) & c.record_id.in_(unsigned)
                    conn.execute(delete(record_signatures).where(gone))
            if rows:
                conn.execute(links.insert(), rows)
            self._upsert(
                conn,
                record_signatures,
                ["source", "record_id"],
                [
                    {"source": source, "record_id": record_id, "signature": signature}
                    for (source, record_id), signature in sorted(signatures.items())
                ],
            )
            # The issues whose links moved must be summed and published again.
            after = {tuple(row[c.name] for c in links.columns) for row in rows}
            key = list(links.columns).index(links.c.issue_key)
            self._mark_pending(conn, (row[key] for row in before ^ after))

    # -- what changed since the last publish ------------------------------------------------

    def _mark_pending(self, conn: Connection, keys: Iterable[str]) -> None:
        rows = [{"issue_key": key, "marked_at": _now()} for key in sorted(set(keys))]
        self._upsert(conn, pending_issues, ["issue_key"], rows)

    def mark_pending(self, keys: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            self._mark_pending(conn, keys)

    def pending(self) -> set[str]:
        """Issues whose demand changed and is not yet published."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(pending_issues.c.issue_key)).scalars())

    def clear_pending(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        with self.engine.begin() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                conn.execute(delete(pending_issues).where(pending_issues.c.issue_key.in_(chunk)))

    def issue_signatures(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {row.issue_key: row.signature for row in conn.execute(select(issue_signatures))}

    def save_issue_signatures(self, signatures: dict[str, str]) -> None:
        """Replace what linking last saw of the issues. Only the rows that differ are
        written: a sync sees a few issues change among thousands."""
        with self.engine.begin() as conn:
            before = {
                row.issue_key: row.signature for row in conn.execute(select(issue_signatures))
            }
            gone = sorted(set(before) - set(signatures))
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                conn.execute(
                    delete(issue_signatures).where(issue_signatures.c.issue_key.in_(chunk))
                )
            rows = [
                {"issue_key": key, "signature": value}
                for key, value in sorted(signatures.items())
                if before.get(key) != value
            ]
            self._upsert(conn, issue_signatures, ["issue_key"], rows)

    def links(self, issue_key: str | None = None, *, suggested: bool | None = None) -> list[Link]:
        """Links, optionally of one issue; `suggested` True/False keeps only/no suggestions."""
        query = select(links).order_by(links.c.issue_key, links.c.source, links.c.record_id)
        if issue_key:
            query = query.where(links.c.issue_key == issue_key)
        if suggested is not None:
            query = query.where((links.c.status == "suggested") == suggested)
        with self.engine.connect() as conn:
            return [Link.model_validate(row._asdict()) for row in conn.execute(query)]

    def linked_issue_keys(self) -> set[str]:
        """The issues with links that count in demand."""
        query = select(links.c.issue_key).where(links.c.status != "suggested").distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def count_links(self) -> int:
        """The links that count in demand (suggestions do not)."""
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(links).where(links.c.status != "suggested")
            return int(conn.execute(query).scalar_one())

    def links_of(self, issue_keys: Iterable[str], *, suggested: bool | None = None) -> list[Link]:
        """The links to any of these issues, one issue's in the order `links` gives them
        (a summary's ties, two requests of one minute, keep it); `suggested` as in `links`."""
        keys = sorted(set(issue_keys))
        found: list[Link] = []
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                query = (
                    select(links)
                    .where(links.c.issue_key.in_(keys[start : start + 500]))
                    .order_by(links.c.issue_key, links.c.source, links.c.record_id)
                )
                if suggested is not None:
                    query = query.where((links.c.status == "suggested") == suggested)
                found += [Link.model_validate(row._asdict()) for row in conn.execute(query)]
        return found

    def deal_accounts(self) -> list[tuple[str, str, list[str]]]:
        """(source, id, account ids) of every deal, read from the payloads without loading
        the deals: whose deals they are."""
        query = select(
            records.c.source, records.c.record_id, records.c.payload["account_ids"]
        ).where(records.c.kind == "deal")
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(query)]

    def requesters(self) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
        """(issue_key, source, record_id, account_id, requester_email, requester_name) of
        every feedback link that counts: who asked for what, read from the payloads without
        loading the items."""
        payload = records.c.payload
        query = select(
            links.c.issue_key,
            links.c.source,
            links.c.record_id,
            payload["account_id"].as_string(),
            payload["requester_email"].as_string(),
            payload["requester_name"].as_string(),
        ).join_from(
            links,
            records,
            (records.c.kind == "feedback")
            & (records.c.source == links.c.source)
            & (records.c.record_id == links.c.record_id),
        )
        query = query.where(links.c.kind == "feedback", links.c.status != "suggested")
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(query)]

    def links_of_owners(self, owners: Iterable[tuple[str, str]]) -> list[Link]:
        """Every link of these (source, record_id) feedback items and deals."""
        found: list[Link] = []
        with self.engine.connect() as conn:
            for source, ids in _by_source(owners):
                owned = (links.c.source == source) & links.c.record_id.in_(ids)
                rows = conn.execute(select(links).where(owned))
                found += [Link.model_validate(row._asdict()) for row in rows]
        return found

    def decide(self, source: str, record_id: str, issue_key: str, decision: str) -> None:
        """Record a person's confirm or reject (or a proposal's suggestion); a later decision
        on the pair replaces it."""
        assert decision in ("confirmed", "rejected", "suggested")
        row = {
            "source": source,
            "record_id": record_id,
            "issue_key": issue_key,
            "decision": decision,
            "decided_at": _now(),
        }
        with self.engine.begin() as conn:
            self._upsert(conn, link_decisions, ["source", "record_id", "issue_key"], [row])

    def decided_since(self, since: datetime | None) -> set[tuple[str, str]]:
        """The records a person confirmed or rejected a link of since `since` (all: None)."""
        query = select(link_decisions.c.source, link_decisions.c.record_id)
        if since is not None:
            query = query.where(link_decisions.c.decided_at >= since)
        with self.engine.connect() as conn:
            return {(row.source, row.record_id) for row in conn.execute(query)}

    def decisions(self) -> dict[tuple[str, str, str], str]:
        with self.engine.connect() as conn:
            return {
                (row.source, row.record_id, row.issue_key): row.decision
                for row in conn.execute(select(link_decisions))
            }

    # -- derived values ---------------------------------------------------------------------

    def derived(self, name: str, fingerprint: str) -> Any:
        """The value saved under `name` if it was derived from the same inputs, else None."""
        query = select(derived.c.value).where(
            derived.c.name == name, derived.c.fingerprint == fingerprint
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def save_derived(self, name: str, fingerprint: str, value: Any) -> None:
        row = {"name": name, "fingerprint": fingerprint, "value": value, "saved_at": _now()}
        with self.engine.begin() as conn:
            self._upsert(conn, derived, ["name"], [row])

    # -- text analyses ----------------------------------------------------------------------

    def text_analyses(
        self, hashes: Mapping[str, str]
    ) -> dict[str, tuple[bytes, bytes, bytes, str]]:
        """The kept analyses of these issues' texts (key: hash of the text), by key: (row
        sizes, buckets, counts, terms). One kept for another text (the hash moved) is not
        among them."""
        found = {}
        with self.engine.connect() as conn:
            for query in _by_issue_key(text_analyses, hashes):
                # Unpacked: reading a Row's fields by name took longer than SQLite's read
                # (25 ms against 14 for 2,800 issues).
                for key, text_hash, row_sizes, buckets, counts, terms in conn.execute(query):
                    if text_hash == hashes[key]:
                        found[key] = (row_sizes, buckets, counts, terms)
        return found

    def save_text_analyses(
        self,
        analyses: Mapping[str, tuple[str, bytes, bytes, bytes, str]],
        candidates: Collection[str],
    ) -> None:
        """Keep these issues' analyses (key: (text hash, row sizes, buckets, counts, terms)),
        and forget those of issues no longer `candidates` for text links (done, deleted)."""
        rows = [
            {
                "issue_key": key,
                "text_hash": text_hash,
                "row_sizes": row_sizes,
                "buckets": buckets,
                "counts": counts,
                "terms": terms,
            }
            # In key order, as the deletions: two builds saving at once take the rows' locks
            # in one order, and PostgreSQL never finds them deadlocked.
            for key, (text_hash, row_sizes, buckets, counts, terms) in sorted(analyses.items())
        ]
        with self.engine.begin() as conn:
            kept = conn.execute(select(text_analyses.c.issue_key)).scalars()
            gone = sorted(set(kept) - set(candidates))
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                conn.execute(delete(text_analyses).where(text_analyses.c.issue_key.in_(chunk)))
            self._upsert(conn, text_analyses, ["issue_key"], rows)

    # -- publish ledger ---------------------------------------------------------------------

    def ledger(self, keys: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
        """What was last published, on every issue or on these."""
        queries = _by_issue_key(publish_ledger, keys)
        with self.engine.connect() as conn:
            return {
                row.issue_key: LedgerEntry(
                    row.issue_key, row.content_hash, row.comment_id, row.summary
                )
                for query in queries
                for row in conn.execute(query)
            }

    def ledger_keys(self) -> set[str]:
        """The issues demand was ever published on (`ledger` without the summaries)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(publish_ledger.c.issue_key)).scalars())

    def record_publish(self, entry: LedgerEntry) -> None:
        """The ledger entry of a write, and (when the content changed) a history row."""
        with self.engine.begin() as conn:
            before = conn.execute(
                select(publish_ledger.c.content_hash).where(
                    publish_ledger.c.issue_key == entry.issue_key
                )
            ).scalar()
            self._upsert(
                conn,
                publish_ledger,
                ["issue_key"],
                [
                    {
                        "issue_key": entry.issue_key,
                        "content_hash": entry.content_hash,
                        "comment_id": entry.comment_id,
                        "summary": entry.summary,
                        "written_at": _now(),
                    }
                ],
            )
            history = _history_row(entry)
            # A comment-only write (same content, the comment caught up) adds no point.
            if history is not None and before != entry.content_hash:
                conn.execute(demand_history.insert().values(**history))

    def demand_history(
        self, keys: Iterable[str] | None = None
    ) -> dict[str, list[tuple[datetime, dict[str, float]]]]:
        """Every publish's numbers per issue, oldest first: demand over time."""
        queries = _by_issue_key(demand_history, keys)
        history: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
        with self.engine.connect() as conn:
            for query in queries:
                for row in conn.execute(query.order_by(demand_history.c.id)):
                    numbers = {
                        "requests": row.requests,
                        "customers": row.customers,
                        "revenue": row.revenue,
                        "open_pipeline": row.open_pipeline,
                    }
                    when = _aware(row.published_at)
                    assert when is not None
                    history.setdefault(row.issue_key, []).append((when, numbers))
        return history

    # -- closing the loop -------------------------------------------------------------------

    def issue_states(self, keys: Iterable[str] | None = None) -> dict[str, tuple[str, set[str]]]:
        """The last state seen of every issue, or of these."""
        queries = _by_issue_key(issue_states, keys)
        with self.engine.connect() as conn:
            return {
                row.issue_key: (row.status_category, set(row.released_versions))
                for query in queries
                for row in conn.execute(query)
            }

    def save_issue_states(self, states: dict[str, tuple[str, set[str]]]) -> None:
        rows = [
            {
                "issue_key": key,
                "status_category": category,
                "released_versions": sorted(released),
                "seen_at": _now(),
            }
            for key, (category, released) in states.items()
        ]
        with self.engine.begin() as conn:
            self._upsert(conn, issue_states, ["issue_key"], rows)

    def loop_noted(self) -> set[tuple[str, str, str, str]]:
        """(source, record id, issue key, transition) of every note written."""
        return self._loop_rows(written=True)

    def loop_pending(self) -> set[tuple[str, str, str, str]]:
        """The notes that failed and wait for a later run to write them."""
        return self._loop_rows(written=False)

    def _loop_rows(self, written: bool) -> set[tuple[str, str, str, str]]:
        # A note that failed is kept with no note id: pending, its transition not used up.
        has_note = loop_notes.c.note_id.is_not(None) if written else loop_notes.c.note_id.is_(None)
        query = select(
            loop_notes.c.source,
            loop_notes.c.record_id,
            loop_notes.c.issue_key,
            loop_notes.c.transition,
        ).where(has_note)
        with self.engine.connect() as conn:
            return {(row[0], row[1], row[2], row[3]) for row in conn.execute(query)}

    def record_loop_note(
        self, source: str, record_id: str, issue_key: str, transition: str, note_id: str | None
    ) -> None:
        """A note written (`note_id`), or one that failed and stays pending (None)."""
        row = {
            "source": source,
            "record_id": record_id,
            "issue_key": issue_key,
            "transition": transition,
            "note_id": note_id,
            "written_at": _now(),
        }
        with self.engine.begin() as conn:
            self._upsert(
                conn, loop_notes, ["source", "record_id", "issue_key", "transition"], [row]
            )

    def drop_loop_pending(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Forget pending notes nobody needs any more (the ticket or deal closed or left)."""
        with self.engine.begin() as conn:
            for source, record_id, issue_key, transition in rows:
                conn.execute(
                    loop_notes.delete().where(
                        loop_notes.c.source == source,
                        loop_notes.c.record_id == record_id,
                        loop_notes.c.issue_key == issue_key,
                        loop_notes.c.transition == transition,
                        loop_notes.c.note_id.is_(None),
                    )
                )

    def issues_by_key(self, keys: Iterable[str]) -> list[Any]:
        """The stored issues with these keys, found by the key in their payload."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        query = select(PAYLOAD_TEXT).where(
            records.c.kind == "issue", records.c.payload["key"].as_string().in_(wanted)
        )
        with self.engine.connect() as conn:
            return [MODELS["issue"].model_validate_json(text) for (text,) in conn.execute(query)]

    # -- dead letters -----------------------------------------------------------------------

    def dead_letters(self, include_resolved: bool = False) -> list[dict[str, Any]]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        if not include_resolved:
            query = query.where(dead_letters.c.resolved.is_(False))
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def resolve_dead_letters(self, source: str, kind: str, record_ids: Iterable[str]) -> None:
        """A record that now validates is no longer dead: its old letters are resolved."""
        ids = list(record_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                dead_letters.update()
                .where(
                    dead_letters.c.source == source,
                    dead_letters.c.kind == kind,
                    dead_letters.c.record_id.in_(ids),
                )
                .values(resolved=True)
            )

    def dead_letter(self, letter_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == letter_id)).first()
            return row._asdict() if row else None

    def update_dead_letter_reasons(self, reasons: dict[int, str]) -> None:
        """A replay that still fails says why now (the reason may have changed)."""
        with self.engine.begin() as conn:
            for letter_id, reason in reasons.items():
                conn.execute(
                    dead_letters.update()
                    .where(dead_letters.c.id == letter_id)
                    .values(reason=reason)
                )

    def revive(self, page: Sequence[Record], letter_ids: Iterable[int]) -> None:
        """Records rebuilt from dead letters go into the store, and their letters are
        resolved, in one transaction."""
        ids = list(letter_ids)
        with self.engine.begin() as conn:
            self._upsert_records(conn, page)
            if ids:
                conn.execute(
                    dead_letters.update().where(dead_letters.c.id.in_(ids)).values(resolved=True)
                )

    def stored_versions(self, source: str, kind: str, ids: Iterable[str]) -> dict[str, datetime]:
        """updated_at of the stored records among `ids`."""
        wanted = list(ids)
        found: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = select(records.c.record_id, records.c.updated_at).where(
                    records.c.source == source,
                    records.c.kind == kind,
                    records.c.record_id.in_(wanted[start : start + 500]),
                )
                for record_id, updated_at in conn.execute(query):
                    found[record_id] = _aware(updated_at) or updated_at
        return found

    # -- backfills --------------------------------------------------------------------------

    def find_backfill(
        self, source: str, since: datetime, until: datetime | None, window_seconds: int
    ) -> dict[str, Any] | None:
        """The latest backfill with these parameters (`until` None: an open-ended one)."""
        query = select(backfills).where(
            backfills.c.source == source,
            backfills.c.since == since,
            backfills.c.window_seconds == window_seconds,
            backfills.c.open_ended.is_(until is None),
        )
        if until is not None:
            query = query.where(backfills.c.until == until)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(backfills.c.id.desc()).limit(1)).first()
            return _backfill_row(row) if row else None

    def start_backfill(
        self,
        source: str,
        since: datetime,
        until: datetime,
        open_ended: bool,
        window_seconds: int,
        windows_total: int,
    ) -> int:
        now = _now()
        with self.engine.begin() as conn:
            result = conn.execute(
                backfills.insert().values(
                    source=source,
                    since=since,
                    until=until,
                    open_ended=open_ended,
                    window_seconds=window_seconds,
                    windows_total=windows_total,
                    windows_done=0,
                    status="running",
                    records=0,
                    dead_letters=0,
                    started_at=now,
                    updated_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def backfill_status(self, backfill_id: int, status: str, error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": _now(), "error": error}
        if status in ("done", "failed"):
            values["finished_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(backfills.update().where(backfills.c.id == backfill_id).values(**values))

    def finish_window(
        self, backfill_id: int, index: int, stored: int, dead: int, cursor_prefix: str
    ) -> None:
        """The checkpoint: window `index` is done. Its own cursors go with it, in the same
        transaction; the move from `index` to `index + 1` fails if another run made it."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(backfills)
                .where(backfills.c.id == backfill_id, backfills.c.windows_done == index)
                .values(
                    windows_done=index + 1,
                    records=backfills.c.records + stored,
                    dead_letters=backfills.c.dead_letters + dead,
                    updated_at=_now(),
                )
            ).rowcount
            if moved != 1:
                raise BackfillConflict(
                    f"backfill {backfill_id}: window {index + 1} was already checkpointed "
                    "by another run of the same backfill"
                )
            conn.execute(delete(cursors).where(cursors.c.stream.startswith(cursor_prefix)))

    def backfills(self, n: int = 10) -> list[dict[str, Any]]:
        query = select(backfills).order_by(backfills.c.id.desc()).limit(n)
        with self.engine.connect() as conn:
            return [_backfill_row(row) for row in conn.execute(query)]

    # -- runs -------------------------------------------------------------------------------

    def start_run(self) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                runs.insert().values(started_at=_now(), outcome="running", stats={})
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(self, run_id: int, outcome: str, stats: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=_now(), outcome=outcome, stats=stats)
            )

    def last_runs(self, n: int = 5) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                row._asdict()
                for row in conn.execute(select(runs).order_by(runs.c.id.desc()).limit(n))
            ]


def _history_row(entry: LedgerEntry) -> dict[str, Any] | None:
    """The numbers of a published summary, for the demand history; None when the entry
    holds no summary numbers (a ledger entry written by an older pmsync)."""
    summary = entry.summary
    try:
        return {
            "issue_key": entry.issue_key,
            "published_at": _now(),
            "requests": int(summary["requests"]),
            "customers": int(summary["customers"]),
            "revenue": float(summary["revenue"]),
            "open_pipeline": float(summary["open_pipeline"]),
        }
    except (KeyError, TypeError, ValueError):
        return None


def _backfill_row(row: Any) -> dict[str, Any]:
    found = row._asdict()
    for name in ("since", "until", "started_at", "updated_at", "finished_at"):
        found[name] = _aware(found[name])
    return found


def _by_source(
    pairs: Iterable[tuple[str, str]], size: int = 500
) -> Iterator[tuple[str, list[str]]]:
    """(source, id) pairs as (source, up to `size` of its ids), in order: a query for one
    source's ids reads the primary key's index, where one for (source, id) pairs scans
    every row of the kind (5x slower for 1,000 of 30,000 feedback items on SQLite)."""
    by_source: dict[str, list[str]] = {}
    for source, record_id in sorted(set(pairs)):
        by_source.setdefault(source, []).append(record_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), size):
            yield source, ids[start : start + size]
