"""The importance a person gave requests (store.schema.request_importance): kept apart
from the records, so no sync, full or not, touches it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select

from store.schema import request_importance


class Importances:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> dict[tuple[str, str], int]:
        with self.engine.connect() as conn:
            return {
                (row.source, row.record_id): row.importance
                for row in conn.execute(select(request_importance))
            }

    def set(self, choices: Iterable[tuple[str, str, int | None]]) -> None:
        """(source, record_id, importance) each; None forgets the person's word, so the
        ticket's priority speaks again. All in one transaction."""
        now = datetime.now(UTC)
        table = request_importance
        with self.engine.begin() as conn:
            for source, record_id, importance in choices:
                conn.execute(
                    delete(table).where(table.c.source == source, table.c.record_id == record_id)
                )
                if importance is not None:
                    conn.execute(
                        table.insert().values(
                            source=source, record_id=record_id, importance=importance, set_at=now
                        )
                    )
