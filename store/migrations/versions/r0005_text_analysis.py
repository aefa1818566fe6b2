"""Text analyses: each open issue's text as text matching analysed it, so an index build
analyses only the issues whose text changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.create_table(
        "text_analyses",
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("row_sizes", sa.LargeBinary(), nullable=False),
        sa.Column("buckets", sa.LargeBinary(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("issue_key"),
    )


def downgrade() -> None:
    op.drop_table("text_analyses")
