"""Runs of the sync and backfills with their checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from store.base import Repository, aware, now
from store.cursors import Cursors
from store.schema import backfills, runs


class BackfillConflict(RuntimeError):
    """Another process moved this backfill's checkpoint: two runs of one backfill."""


class Runs(Repository):
    def start(self) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                runs.insert().values(started_at=now(), outcome="running", stats={})
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish(self, run_id: int, outcome: str, stats: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=now(), outcome=outcome, stats=stats)
            )

    def last(self, n: int = 5) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                row._asdict()
                for row in conn.execute(select(runs).order_by(runs.c.id.desc()).limit(n))
            ]

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
        started = now()
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
                    started_at=started,
                    updated_at=started,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def backfill_status(self, backfill_id: int, status: str, error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": now(), "error": error}
        if status in ("done", "failed"):
            values["finished_at"] = now()
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
                    updated_at=now(),
                )
            ).rowcount
            if moved != 1:
                raise BackfillConflict(
                    f"backfill {backfill_id}: window {index + 1} was already checkpointed "
                    "by another run of the same backfill"
                )
            Cursors(self.engine).reset(cursor_prefix, conn=conn)

    def backfills(self, n: int = 10) -> list[dict[str, Any]]:
        query = select(backfills).order_by(backfills.c.id.desc()).limit(n)
        with self.engine.connect() as conn:
            return [_backfill_row(row) for row in conn.execute(query)]


def _backfill_row(row: Any) -> dict[str, Any]:
    found: dict[str, Any] = row._asdict()
    for name in ("since", "until", "started_at", "updated_at", "finished_at"):
        found[name] = aware(found[name])
    return found
