"""Cursors and watermarks: where each stream's reads resume, and marks flows keep."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from store.base import Repository, now, upsert
from store.schema import cursors

# The cursor that asks the next sync to relink every record: what a deletion leaves when
# the store cannot tell which records it moved.
RELINK_ALL = "pipeline:relink-all"


class Cursors(Repository):
    def get(self, stream: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(cursors.c.value).where(cursors.c.stream == stream)
            ).scalar_one_or_none()

    def all(self) -> dict[str, tuple[Any, datetime]]:
        with self.engine.connect() as conn:
            return {
                row.stream: (row.value, row.updated_at) for row in conn.execute(select(cursors))
            }

    def set(self, stream: str, value: Any, *, conn: Connection | None = None) -> None:
        with self._begin(conn) as conn:
            row = {"stream": stream, "value": value, "updated_at": now()}
            upsert(conn, cursors, ["stream"], [row])

    def reset(self, prefix: str = "", *, conn: Connection | None = None) -> None:
        """Forget the cursors whose stream starts with `prefix` (every one: "")."""
        with self._begin(conn) as conn:
            conn.execute(delete(cursors).where(cursors.c.stream.startswith(prefix)))
