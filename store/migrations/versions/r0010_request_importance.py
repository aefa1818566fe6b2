"""Request importance: a person's 1-3 per feedback item (store.schema.request_importance)."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import RECORD_ID, SOURCE, TIME, NewTable

revision = "0010"
down_revision: str | None = "0009"

REQUEST_IMPORTANCE = NewTable(
    "request_importance",
    key={"source": SOURCE, "record_id": RECORD_ID},
    columns={"importance": sa.Integer(), "set_at": TIME},
)


def upgrade() -> None:
    REQUEST_IMPORTANCE.create()


def downgrade() -> None:
    REQUEST_IMPORTANCE.drop()
