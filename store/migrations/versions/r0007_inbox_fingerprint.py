"""Inbox fingerprints: a hash of what the vendor signed of each event, unique per tool, so
a captured body replayed under a new (unsigned) identifier is recognised."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    # A store adopted from before migrations may have been made with this column already.
    inspector = sa.inspect(op.get_bind())
    if any(c["name"] == "fingerprint" for c in inspector.get_columns("inbox")):
        return
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_inbox_tool_fingerprint", ["tool", "fingerprint"])


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_constraint("uq_inbox_tool_fingerprint", type_="unique")
        batch.drop_column("fingerprint")
