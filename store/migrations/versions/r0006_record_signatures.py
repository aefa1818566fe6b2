"""Record signatures: what linking last read of each feedback item and deal, so an
incremental sync relinks only the records whose linked fields changed."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import RECORD_ID, SOURCE, NewTable

revision = "0006"
down_revision: str | None = "0005"

RECORD_SIGNATURES = NewTable(
    "record_signatures",
    key={"source": SOURCE, "record_id": RECORD_ID},
    columns={"signature": sa.String(length=64)},
)


def upgrade() -> None:
    RECORD_SIGNATURES.create()


def downgrade() -> None:
    RECORD_SIGNATURES.drop()
