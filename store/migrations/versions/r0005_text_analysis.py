"""Text analyses: each open issue's text as text matching analysed it, so an index build
analyses only the issues whose text changed."""

from __future__ import annotations

import sqlalchemy as sa

from store.migrations.steps import ISSUE_KEY, NewTable

revision = "0005"
down_revision: str | None = "0004"

TEXT_ANALYSES = NewTable(
    "text_analyses",
    key={"issue_key": ISSUE_KEY},
    columns={
        "text_hash": sa.String(length=64),
        "row_sizes": sa.LargeBinary(),
        "buckets": sa.LargeBinary(),
        "counts": sa.LargeBinary(),
        "terms": sa.Text(),
    },
)


def upgrade() -> None:
    TEXT_ANALYSES.create()


def downgrade() -> None:
    TEXT_ANALYSES.drop()
