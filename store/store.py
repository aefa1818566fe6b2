"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from models import Account, Deal, Feedback, Issue, Link, Record, ToolLink
from store.schema import (
    cursors,
    dead_letters,
    issue_states,
    link_decisions,
    links,
    loop_notes,
    metadata,
    publish_ledger,
    records,
    runs,
)

MODELS: dict[str, type[Record]] = {
    "issue": Issue,
    "feedback": Feedback,
    "deal": Deal,
    "account": Account,
    "tool_link": ToolLink,
}


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed validation: kept raw, with the reason, for a later replay."""

    source: str
    kind: str
    record_id: str | None
    reason: str
    payload: Any


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


class Store:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        metadata.create_all(self.engine)

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
                            "payload": d.payload,
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
        now = _now()
        rows = [
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
        self._upsert(conn, records, ["source", "kind", "record_id"], rows)

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

    def load(self, kind: str, source: str | None = None) -> list[Any]:
        query = select(records.c.payload).where(records.c.kind == kind)
        if source:
            query = query.where(records.c.source == source)
        model = MODELS[kind]
        with self.engine.connect() as conn:
            return [model.model_validate(row.payload) for row in conn.execute(query)]

    def _delete_records(self, conn: Connection, source: str, kind: str, ids: Sequence[str]) -> None:
        """Records gone from their tool leave the store with their links."""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(
                delete(records).where(
                    records.c.source == source,
                    records.c.kind == kind,
                    records.c.record_id.in_(chunk),
                )
            )
            if kind in ("feedback", "deal"):
                conn.execute(
                    delete(links).where(links.c.source == source, links.c.record_id.in_(chunk))
                )

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

    def reset_cursors(self, prefix: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(cursors).where(cursors.c.stream.startswith(prefix)))

    # -- links ------------------------------------------------------------------------------

    def replace_links(self, owners: Iterable[tuple[str, str]], new: Iterable[Link]) -> None:
        """Make `new` the links of these (source, record_id) owners, in one transaction."""
        owners = list(owners)
        with self.engine.begin() as conn:
            for start in range(0, len(owners), 500):
                chunk = owners[start : start + 500]
                conn.execute(
                    delete(links).where(tuple_(links.c.source, links.c.record_id).in_(chunk))
                )
            rows = [link.model_dump() for link in new]
            if rows:
                conn.execute(links.insert(), rows)

    def links(self, issue_key: str | None = None, *, suggested: bool | None = None) -> list[Link]:
        """Links, optionally of one issue; `suggested` True/False keeps only/no suggestions."""
        query = select(links).order_by(links.c.issue_key, links.c.source, links.c.record_id)
        if issue_key:
            query = query.where(links.c.issue_key == issue_key)
        if suggested is not None:
            query = query.where((links.c.status == "suggested") == suggested)
        with self.engine.connect() as conn:
            return [Link.model_validate(row._asdict()) for row in conn.execute(query)]

    def decide(self, source: str, record_id: str, issue_key: str, decision: str) -> None:
        """Record a person's confirm or reject; a later decision on the pair replaces it."""
        assert decision in ("confirmed", "rejected")
        row = {
            "source": source,
            "record_id": record_id,
            "issue_key": issue_key,
            "decision": decision,
            "decided_at": _now(),
        }
        with self.engine.begin() as conn:
            self._upsert(conn, link_decisions, ["source", "record_id", "issue_key"], [row])

    def decisions(self) -> dict[tuple[str, str, str], str]:
        with self.engine.connect() as conn:
            return {
                (row.source, row.record_id, row.issue_key): row.decision
                for row in conn.execute(select(link_decisions))
            }

    # -- publish ledger ---------------------------------------------------------------------

    def ledger(self) -> dict[str, LedgerEntry]:
        with self.engine.connect() as conn:
            return {
                row.issue_key: LedgerEntry(
                    row.issue_key, row.content_hash, row.comment_id, row.summary
                )
                for row in conn.execute(select(publish_ledger))
            }

    def record_publish(self, entry: LedgerEntry) -> None:
        with self.engine.begin() as conn:
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

    # -- closing the loop -------------------------------------------------------------------

    def issue_states(self) -> dict[str, tuple[str, set[str]]]:
        with self.engine.connect() as conn:
            return {
                row.issue_key: (row.status_category, set(row.released_versions))
                for row in conn.execute(select(issue_states))
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
        with self.engine.connect() as conn:
            query = select(
                loop_notes.c.source,
                loop_notes.c.record_id,
                loop_notes.c.issue_key,
                loop_notes.c.transition,
            )
            return {tuple(row) for row in conn.execute(query)}

    def record_loop_note(
        self, source: str, record_id: str, issue_key: str, transition: str, note_id: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                loop_notes.insert().values(
                    source=source,
                    record_id=record_id,
                    issue_key=issue_key,
                    transition=transition,
                    note_id=note_id,
                    written_at=_now(),
                )
            )

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
