"""Record signatures: what linking last read of each feedback item and deal, so an
incremental sync relinks only the records whose linked fields changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "record_signatures",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("source", "record_id"),
    )


def downgrade() -> None:
    op.drop_table("record_signatures")
