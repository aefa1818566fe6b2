"""The publish ledger: what was written on each issue, its history, and what waits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from store.base import Repository, aware, by_issue_key, chunks, now, upsert
from store.schema import demand_history, pending_issues, publish_ledger

# A pending mark for every issue at once: what a deletion leaves when the store cannot
# tell which issues it moved.
EVERY_ISSUE = "*"


@dataclass(frozen=True)
class LedgerEntry:
    issue_key: str
    content_hash: str
    comment_id: str | None
    summary: dict[str, Any]


class Ledger(Repository):
    def entries(self, keys: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
        """What was last published, on every issue or on these."""
        with self.engine.connect() as conn:
            return {
                row.issue_key: LedgerEntry(
                    row.issue_key, row.content_hash, row.comment_id, row.summary
                )
                for query in by_issue_key(publish_ledger, keys)
                for row in conn.execute(query)
            }

    def keys(self) -> set[str]:
        """The issues demand was ever published on (`entries` without the summaries)."""
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
            row = {
                "issue_key": entry.issue_key,
                "content_hash": entry.content_hash,
                "comment_id": entry.comment_id,
                "summary": entry.summary,
                "written_at": now(),
            }
            upsert(conn, publish_ledger, ["issue_key"], [row])
            history = _history_row(entry)
            # A comment-only write (same content, the comment caught up) adds no point.
            if history is not None and before != entry.content_hash:
                conn.execute(demand_history.insert().values(**history))

    def demand_history(
        self, keys: Iterable[str] | None = None
    ) -> dict[str, list[tuple[datetime, dict[str, float]]]]:
        """Every publish's numbers per issue, oldest first: demand over time."""
        history: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
        with self.engine.connect() as conn:
            for query in by_issue_key(demand_history, keys):
                for row in conn.execute(query.order_by(demand_history.c.id)):
                    numbers = {
                        "requests": row.requests,
                        "customers": row.customers,
                        "revenue": row.revenue,
                        "open_pipeline": row.open_pipeline,
                    }
                    when = aware(row.published_at)
                    assert when is not None
                    history.setdefault(row.issue_key, []).append((when, numbers))
        return history

    # -- what changed since the last publish ------------------------------------------------

    def mark_pending(self, keys: Iterable[str], *, conn: Connection | None = None) -> None:
        """These issues' demand must be summed and published again."""
        rows = [{"issue_key": key, "marked_at": now()} for key in sorted(set(keys))]
        with self._begin(conn) as conn:
            upsert(conn, pending_issues, ["issue_key"], rows)

    def pending(self) -> set[str]:
        """Issues whose demand changed and is not yet published."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(pending_issues.c.issue_key)).scalars())

    def clear_pending(self, keys: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            for chunk in chunks(sorted(set(keys))):
                conn.execute(delete(pending_issues).where(pending_issues.c.issue_key.in_(chunk)))


def _history_row(entry: LedgerEntry) -> dict[str, Any] | None:
    """The numbers of a published summary, for the demand history; None when the entry
    holds no summary numbers (a ledger entry written by an older pmsync)."""
    summary = entry.summary
    try:
        return {
            "issue_key": entry.issue_key,
            "published_at": now(),
            "requests": int(summary["requests"]),
            "customers": int(summary["customers"]),
            "revenue": float(summary["revenue"]),
            "open_pipeline": float(summary["open_pipeline"]),
        }
    except (KeyError, TypeError, ValueError):
        return None
