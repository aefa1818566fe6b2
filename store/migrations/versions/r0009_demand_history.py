"""Demand history: the numbers each publish put on an issue (store.schema.demand_history)."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import ISSUE_KEY, TIME, NewTable

revision = "0009"
down_revision: str | None = "0008"

DEMAND_HISTORY = NewTable.numbered(
    "demand_history",
    columns={
        "issue_key": ISSUE_KEY,
        "published_at": TIME,
        "requests": sa.Integer(),
        "customers": sa.Integer(),
        "revenue": sa.Float(),
        "open_pipeline": sa.Float(),
    },
    indexes={"ix_demand_history_issue": ["issue_key", "published_at"]},
)


def upgrade() -> None:
    DEMAND_HISTORY.create()


def downgrade() -> None:
    DEMAND_HISTORY.drop()
