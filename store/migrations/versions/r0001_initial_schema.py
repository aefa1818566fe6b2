"""The schema as pmsync created it before migrations: records, links, decisions,
cursors, the publish ledger, dead letters, runs, issue states, loop notes and the inbox.

A store that an older pmsync made with `metadata.create_all` has some or all of these
tables and no `alembic_version`: the tables found are kept as they are, the missing ones
are created, and the store is at this revision from then on.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.migrations.steps import ISSUE_KEY, RECORD_ID, SOURCE, TIME, NewTable

revision = "0001"
down_revision: str | None = None

# In the order they are created; the downgrade drops them in the reverse order.
TABLES = [
    NewTable(
        "records",
        key={"source": SOURCE, "kind": sa.String(length=16), "record_id": RECORD_ID},
        columns={"updated_at": TIME, "payload": sa.JSON(), "synced_at": TIME},
    ),
    NewTable(
        "links",
        key={"source": SOURCE, "record_id": RECORD_ID, "issue_key": ISSUE_KEY},
        columns={
            "kind": sa.String(length=16),
            "method": sa.String(length=32),
            "confidence": sa.Float(),
            "evidence": sa.Text(),
            "status": sa.String(length=16),
        },
    ),
    NewTable(
        "link_decisions",
        key={"source": SOURCE, "record_id": RECORD_ID, "issue_key": ISSUE_KEY},
        columns={"decision": sa.String(length=16), "decided_at": TIME},
    ),
    NewTable(
        "cursors",
        key={"stream": sa.String(length=64)},
        columns={"value": sa.JSON(), "updated_at": TIME},
    ),
    NewTable(
        "publish_ledger",
        key={"issue_key": ISSUE_KEY},
        columns={
            "content_hash": sa.String(length=64),
            "comment_id": sa.String(length=64),
            "summary": sa.JSON(),
            "written_at": TIME,
        },
        optional=["comment_id"],
    ),
    NewTable.numbered(
        "dead_letters",
        columns={
            "source": SOURCE,
            "kind": sa.String(length=16),
            "record_id": RECORD_ID,
            "reason": sa.Text(),
            "payload": sa.JSON(),
            "created_at": TIME,
            "resolved": sa.Boolean(),
        },
        optional=["record_id"],
    ),
    NewTable.numbered(
        "runs",
        columns={
            "started_at": TIME,
            "finished_at": TIME,
            "outcome": sa.String(length=16),
            "stats": sa.JSON(),
        },
        optional=["finished_at"],
    ),
    NewTable(
        "issue_states",
        key={"issue_key": ISSUE_KEY},
        columns={
            "status_category": sa.String(length=32),
            "released_versions": sa.JSON(),
            "seen_at": TIME,
        },
    ),
    NewTable(
        "loop_notes",
        key={
            "source": SOURCE,
            "record_id": RECORD_ID,
            "issue_key": ISSUE_KEY,
            "transition": sa.String(length=128),
        },
        columns={"note_id": sa.String(length=255), "written_at": TIME},
        optional=["note_id"],
    ),
    NewTable.numbered(
        "inbox",
        columns={
            "tool": sa.String(length=32),
            "delivery_id": sa.String(length=255),
            "received_at": TIME,
            "payload": sa.JSON(),
            "headers": sa.JSON(),
            "status": sa.String(length=16),
            "attempts": sa.Integer(),
            "claim": sa.String(length=36),
            "claimed_at": TIME,
            "processed_at": TIME,
            "error": sa.Text(),
        },
        optional=["claim", "claimed_at", "processed_at", "error"],
        unique={"uq_inbox_tool_delivery": ["tool", "delivery_id"]},
        indexes={"ix_inbox_status_id": ["status", "id"]},
    ),
]


def upgrade() -> None:
    for table in TABLES:
        # A store made before migrations keeps the tables it has (and their indexes).
        if not sa.inspect(op.get_bind()).has_table(table.name):
            table.create()


def downgrade() -> None:
    for table in reversed(TABLES):
        table.drop()
