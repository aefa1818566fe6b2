"""Incremental linking: the issues waiting to be republished, and what linking last saw of
each issue, so a sync relinks only what changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.migrations.steps import ISSUE_KEY, TIME, NewTable

revision = "0003"
down_revision: str | None = "0002"

PENDING_ISSUES = NewTable(
    "pending_issues",
    key={"issue_key": ISSUE_KEY},
    columns={"marked_at": TIME},
)
ISSUE_SIGNATURES = NewTable(
    "issue_signatures",
    key={"issue_key": ISSUE_KEY},
    columns={"signature": sa.String(length=64)},
)


def upgrade() -> None:
    PENDING_ISSUES.create()
    ISSUE_SIGNATURES.create()
    # A store adopted from create_all may have the index already.
    op.create_index(
        "ix_records_kind_synced", "records", ["kind", "synced_at"], unique=False, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_records_kind_synced", table_name="records")
    ISSUE_SIGNATURES.drop()
    PENDING_ISSUES.drop()
