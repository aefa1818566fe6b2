"""Derived values: data rebuilt from other tables (the account directory), kept with a
fingerprint of what it was built from so a sync rebuilds it only when that changed."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import TIME, NewTable

revision = "0004"
down_revision: str | None = "0003"

DERIVED = NewTable(
    "derived",
    key={"name": sa.String(length=64)},
    columns={
        "fingerprint": sa.String(length=64),
        "value": sa.JSON(),
        "saved_at": TIME,
    },
)


def upgrade() -> None:
    DERIVED.create()


def downgrade() -> None:
    DERIVED.drop()
