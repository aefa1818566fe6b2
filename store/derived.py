"""Values derived from the records, kept while their inputs stay the same."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import delete, select

from store.base import Repository, by_issue_key, chunks, now, upsert
from store.schema import derived, text_analyses


class Derived(Repository):
    def get(self, name: str, fingerprint: str) -> Any:
        """The value saved under `name` if it was derived from the same inputs, else None."""
        query = select(derived.c.value).where(
            derived.c.name == name, derived.c.fingerprint == fingerprint
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def save(self, name: str, fingerprint: str, value: Any) -> None:
        row = {"name": name, "fingerprint": fingerprint, "value": value, "saved_at": now()}
        with self.engine.begin() as conn:
            upsert(conn, derived, ["name"], [row])

    def text_analyses(
        self, hashes: Mapping[str, str]
    ) -> dict[str, tuple[bytes, bytes, bytes, str]]:
        """The kept analyses of these issues' texts (key: hash of the text), by key: (row
        sizes, buckets, counts, terms). One kept for another text (the hash moved) is not
        among them."""
        found = {}
        with self.engine.connect() as conn:
            for query in by_issue_key(text_analyses, hashes):
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
            for chunk in chunks(sorted(set(kept) - set(candidates))):
                conn.execute(delete(text_analyses).where(text_analyses.c.issue_key.in_(chunk)))
            upsert(conn, text_analyses, ["issue_key"], rows)
