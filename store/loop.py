"""Closing the loop: the issues' last seen states and the notes written on what asked."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from store.base import Repository, by_issue_key, now, upsert
from store.schema import issue_states, loop_notes

Note = tuple[str, str, str, str]  # (source, record id, issue key, transition)


class Loop(Repository):
    def issue_states(self, keys: Iterable[str] | None = None) -> dict[str, tuple[str, set[str]]]:
        """The last state seen of every issue, or of these."""
        with self.engine.connect() as conn:
            return {
                row.issue_key: (row.status_category, set(row.released_versions))
                for query in by_issue_key(issue_states, keys)
                for row in conn.execute(query)
            }

    def save_issue_states(self, states: dict[str, tuple[str, set[str]]]) -> None:
        rows = [
            {
                "issue_key": key,
                "status_category": category,
                "released_versions": sorted(released),
                "seen_at": now(),
            }
            for key, (category, released) in states.items()
        ]
        with self.engine.begin() as conn:
            upsert(conn, issue_states, ["issue_key"], rows)

    def noted(self) -> set[Note]:
        """(source, record id, issue key, transition) of every note written."""
        return self._rows(written=True)

    def pending(self) -> set[Note]:
        """The notes that failed and wait for a later run to write them."""
        return self._rows(written=False)

    def _rows(self, written: bool) -> set[Note]:
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

    def record_note(
        self, source: str, record_id: str, issue_key: str, transition: str, note_id: str | None
    ) -> None:
        """A note written (`note_id`), or one that failed and stays pending (None)."""
        row = {
            "source": source,
            "record_id": record_id,
            "issue_key": issue_key,
            "transition": transition,
            "note_id": note_id,
            "written_at": now(),
        }
        with self.engine.begin() as conn:
            upsert(conn, loop_notes, ["source", "record_id", "issue_key", "transition"], [row])

    def drop_pending(self, rows: Iterable[Note]) -> None:
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
