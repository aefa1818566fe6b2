"""The records pulled from the tools, one row per (source, kind, id), loaded as models."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Text, cast, func, or_, select

from models import Issue, Record, RecordKind
from store.base import Repository, aware, by_source, chunks
from store.cursors import Cursors
from store.dead_letters import DeadLetter, DeadLetters
from store.record_rows import (
    MODELS,
    PAYLOAD_TEXT,
    Removal,
    delete_records,
    upsert_records,
)
from store.schema import records


class Records(Repository):
    def __init__(self, engine: Engine, cursors: Cursors, dead_letters: DeadLetters) -> None:
        super().__init__(engine)
        self.cursors = cursors
        self.dead_letters = dead_letters

    def save_page(
        self,
        page: Sequence[Record],
        dead: Sequence[DeadLetter] = (),
        stream: str | None = None,
        cursor: Any = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Store a page, its dead letters and the cursor after it in one transaction,
        so a crash can never advance the cursor past records that were not kept."""
        with self._begin(conn) as conn:
            upsert_records(conn, page)
            self.dead_letters.add(dead, conn=conn)
            if stream is not None:
                self.cursors.set(stream, cursor, conn=conn)

    def revive(self, page: Sequence[Record], letter_ids: Iterable[int]) -> None:
        """Records rebuilt from dead letters go into the store, and their letters are
        resolved, in one transaction."""
        with self.engine.begin() as conn:
            upsert_records(conn, page)
            self.dead_letters.resolve_ids(letter_ids, conn=conn)

    def iter_load(
        self, kind: RecordKind, source: str | None = None, size: int = 5000
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

    def load(self, kind: RecordKind, source: str | None = None) -> list[Any]:
        return [record for chunk in self.iter_load(kind, source) for record in chunk]

    def changed_since(self, kind: RecordKind, since: datetime | None) -> list[Any]:
        """The records of a kind whose payload changed after `since` (all, when None)."""
        query = select(PAYLOAD_TEXT).where(records.c.kind == kind)
        if since is not None:
            query = query.where(records.c.synced_at > since)
        model = MODELS[kind]
        with self.engine.connect() as conn:
            return [model.model_validate_json(text) for (text,) in conn.execute(query)]

    def load_pairs(self, kind: RecordKind, pairs: Iterable[tuple[str, str]]) -> list[Any]:
        """The records of a kind with these (source, id)."""
        model = MODELS[kind]
        found = []
        with self.engine.connect() as conn:
            for source, ids in by_source(pairs):
                query = select(PAYLOAD_TEXT).where(
                    records.c.source == source, records.c.kind == kind, records.c.record_id.in_(ids)
                )
                found += [model.model_validate_json(text) for (text,) in conn.execute(query)]
        return found

    def issues_by_key(self, keys: Iterable[str]) -> list[Issue]:
        """The stored issues with these keys, found by the key in their payload."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        query = select(PAYLOAD_TEXT).where(
            records.c.kind == RecordKind.ISSUE, records.c.payload["key"].as_string().in_(wanted)
        )
        with self.engine.connect() as conn:
            return [Issue.model_validate_json(text) for (text,) in conn.execute(query)]

    def mentioning(
        self, kinds: Sequence[RecordKind], needles: Iterable[str]
    ) -> set[tuple[str, str]]:
        """(source, id) of the records of these kinds whose payload contains any needle,
        in any case: a coarse filter (callers check what they find), so a few changed
        issues need not read every record."""
        text = cast(records.c.payload, Text)
        found: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            # SQLite's LIKE already ignores case, for ASCII letters only, as its lower() folds
            # only those: `icontains` (lower() of every payload once per needle) finds the
            # same records at twice the cost.
            sqlite = conn.dialect.name == "sqlite"
            for chunk in chunks(sorted(set(needles)), 50):
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

    def issue_keys(self) -> set[str]:
        """The keys of the stored issues, read from the payloads without loading them."""
        query = select(records.c.payload["key"].as_string()).where(
            records.c.kind == RecordKind.ISSUE
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def issue_marks(self) -> dict[str, tuple[list[str], bool]]:
        """Each issue's labels, and whether it carried pmsync's property when read, from
        the payloads without loading the issues."""
        payload = records.c.payload
        query = select(
            payload["key"].as_string(), payload["labels"], payload["published"].as_boolean()
        ).where(records.c.kind == RecordKind.ISSUE)
        with self.engine.connect() as conn:
            return {row[0]: (list(row[1] or ()), bool(row[2])) for row in conn.execute(query)}

    def deal_accounts(self) -> list[tuple[str, str, list[str]]]:
        """(source, id, account ids) of every deal, read from the payloads without loading
        the deals: whose deals they are."""
        query = select(
            records.c.source, records.c.record_id, records.c.payload["account_ids"]
        ).where(records.c.kind == RecordKind.DEAL)
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(query)]

    def versions(self, kind: RecordKind) -> list[tuple[str, str, str]]:
        """(source, id, when its payload last changed) of every record of a kind, in order:
        what a value derived from those records is fingerprinted with."""
        query = (
            select(records.c.source, records.c.record_id, records.c.synced_at)
            .where(records.c.kind == kind)
            .order_by(records.c.source, records.c.record_id)
        )
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2].isoformat()) for row in conn.execute(query)]

    def stored_versions(
        self, source: str, kind: RecordKind, ids: Iterable[str]
    ) -> dict[str, datetime]:
        """updated_at of the stored records among `ids`."""
        found: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(ids)):
                query = select(records.c.record_id, records.c.updated_at).where(
                    records.c.source == source,
                    records.c.kind == kind,
                    records.c.record_id.in_(chunk),
                )
                for record_id, updated_at in conn.execute(query):
                    found[record_id] = aware(updated_at) or updated_at
        return found

    def newest_change(self, source: str) -> datetime | None:
        """When the newest record stored from this tool last changed in it."""
        query = select(func.max(records.c.updated_at)).where(records.c.source == source)
        with self.engine.connect() as conn:
            return aware(conn.execute(query).scalar_one_or_none())

    def count(self) -> dict[str, dict[str, int]]:
        """Records stored, by source and kind."""
        query = select(records.c.source, records.c.kind, func.count()).group_by(
            records.c.source, records.c.kind
        )
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for source, kind, n in conn.execute(query):
                counts.setdefault(source, {})[kind] = n
        return counts

    def stored_ids(
        self, source: str, kind: RecordKind, *, conn: Connection | None = None
    ) -> set[str]:
        """The ids stored of one source's kind."""
        query = select(records.c.record_id).where(
            records.c.source == source, records.c.kind == kind
        )
        with self._read(conn) as conn:
            return set(conn.execute(query).scalars())

    def missing(
        self, source: str, kind: RecordKind, keep_ids: set[str], *, conn: Connection | None = None
    ) -> list[str]:
        """The ids stored of one source's kind that are not among `keep_ids`, in order:
        what a stream read in full no longer has."""
        return sorted(self.stored_ids(source, kind, conn=conn) - keep_ids)

    def prune_count(self, source: str, kind: RecordKind, keep_ids: set[str]) -> tuple[int, int]:
        """(records a prune would drop, records stored) of one source's kind."""
        stored = self.stored_ids(source, kind)
        return len(stored - keep_ids), len(stored)

    def delete(
        self,
        source: str,
        kind: RecordKind,
        ids: Sequence[str],
        *,
        conn: Connection | None = None,
    ) -> list[Removal]:
        """Records gone from their tool leave the store with their links, and an issue
        with its remote links (they live in the tracker with the issue). Returns what went, those
        remote links included, for the caller to invalidate what it must."""
        with self._begin(conn) as conn:
            return delete_records(conn, source, RecordKind(kind), list(ids))
