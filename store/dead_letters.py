"""Dead letters: records that failed validation, kept raw with the reason for a replay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from store.base import Repository, now
from store.schema import dead_letters

# The key of a dead letter's payload that holds pmsync's context, not the tool's data.
CONTEXT_KEY = "_context"


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed validation: kept raw, with the reason, for a later replay.

    `context` is what else the connector's builder read besides the raw record (a ticket's
    sideloaded requester, a deal's associated companies, ...): it is stored in the
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


class DeadLetters(Repository):
    def add(self, dead: Sequence[DeadLetter], *, conn: Connection | None = None) -> None:
        """Keep these letters; one already kept unresolved (a bad record read again by a
        lookback or a re-run) is not kept twice."""
        if not dead:
            return
        with self._begin(conn) as conn:
            fresh = _new_letters(conn, dead)
            if fresh:
                conn.execute(
                    dead_letters.insert(),
                    [
                        {
                            "source": d.source,
                            "kind": d.kind,
                            "record_id": d.record_id,
                            "reason": d.reason,
                            "payload": d.stored_payload(),
                            "created_at": now(),
                            "resolved": False,
                        }
                        for d in fresh
                    ],
                )

    def all(self, include_resolved: bool = False) -> list[dict[str, Any]]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        if not include_resolved:
            query = query.where(dead_letters.c.resolved.is_(False))
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def get(self, letter_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == letter_id)).first()
            return row._asdict() if row else None

    def resolve(self, source: str, kind: str, record_ids: Iterable[str]) -> None:
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

    def update_reasons(self, reasons: dict[int, str]) -> None:
        """A replay that still fails says why now (the reason may have changed)."""
        with self.engine.begin() as conn:
            for letter_id, reason in reasons.items():
                conn.execute(
                    dead_letters.update()
                    .where(dead_letters.c.id == letter_id)
                    .values(reason=reason)
                )

    def resolve_ids(self, letter_ids: Iterable[int], *, conn: Connection | None = None) -> None:
        ids = list(letter_ids)
        if not ids:
            return
        with self._begin(conn) as conn:
            conn.execute(
                dead_letters.update().where(dead_letters.c.id.in_(ids)).values(resolved=True)
            )


def _new_letters(conn: Connection, dead: Sequence[DeadLetter]) -> list[DeadLetter]:
    """A bad record read again (lookback, re-runs) is one letter, not one per read."""
    ids = [d.record_id for d in dead if d.record_id is not None]
    query = select(
        dead_letters.c.source,
        dead_letters.c.kind,
        dead_letters.c.record_id,
        dead_letters.c.reason,
    ).where(dead_letters.c.resolved.is_(False), dead_letters.c.record_id.in_(ids))
    known = {tuple(row) for row in conn.execute(query)}
    return [d for d in dead if (d.source, d.kind, d.record_id, d.reason) not in known]
