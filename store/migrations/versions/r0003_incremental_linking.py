"""Incremental linking: the issues waiting to be republished, and what linking last saw of
each issue, so a sync relinks only what changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "pending_issues",
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issue_key"),
    )
    op.create_table(
        "issue_signatures",
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("issue_key"),
    )
    # A store adopted from create_all may have the index already.
    op.create_index(
        "ix_records_kind_synced", "records", ["kind", "synced_at"], unique=False, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_records_kind_synced", table_name="records")
    op.drop_table("issue_signatures")
    op.drop_table("pending_issues")
