"""Backfills: one row per backfill, its parameters and how many windows are done, so a
killed backfill resumes at its first unfinished window."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import SOURCE, TIME, NewTable

revision = "0002"
down_revision: str | None = "0001"

BACKFILLS = NewTable.numbered(
    "backfills",
    columns={
        "source": SOURCE,
        "since": TIME,
        "until": TIME,
        "open_ended": sa.Boolean(),
        "window_seconds": sa.Integer(),
        "windows_total": sa.Integer(),
        "windows_done": sa.Integer(),
        "status": sa.String(length=16),
        "records": sa.Integer(),
        "dead_letters": sa.Integer(),
        "started_at": TIME,
        "updated_at": TIME,
        "finished_at": TIME,
        "error": sa.Text(),
    },
    optional=["finished_at", "error"],
    indexes={"ix_backfills_source_since": ["source", "since"]},
)


def upgrade() -> None:
    BACKFILLS.create()


def downgrade() -> None:
    BACKFILLS.drop()
