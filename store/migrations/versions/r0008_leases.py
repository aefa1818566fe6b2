"""Leases: one writer per tracker issue at a time, across processes (store/leases.py)."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import TIME, NewTable

revision = "0008"
down_revision: str | None = "0007"

LEASES = NewTable(
    "leases",
    key={"name": sa.String(length=255)},
    columns={"holder": sa.String(length=120), "expires_at": TIME},
)


def upgrade() -> None:
    LEASES.create()


def downgrade() -> None:
    LEASES.drop()
