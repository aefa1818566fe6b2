"""The store's tables: records, links, cursors, the publish ledger, dead letters, runs,
backfills, pending issues, issue and record signatures, derived values and text analyses.
Every change here comes with a migration under store/migrations/versions."""

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


# The columns many tables share, each with the one type it has everywhere.
def source(**options: Any) -> Column[Any]:
    """Which tool a record comes from (its name in the registry)."""
    return Column("source", String(32), **options)


def record_id(**options: Any) -> Column[Any]:
    """A record's id in its tool."""
    return Column("record_id", String(255), **options)


def record_key() -> tuple[Column[Any], Column[Any]]:
    """The key of what is kept per record: (source, record_id)."""
    return source(primary_key=True), record_id(primary_key=True)


def issue_key(**options: Any) -> Column[Any]:
    """A tracker issue's key ("ANA-12")."""
    return Column("issue_key", String(64), **options)


def moment(name: str, *, nullable: bool = False) -> Column[Any]:
    """A point in time, always with its time zone."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


def numbered_id() -> Column[Any]:
    """A key the database numbers itself."""
    return Column("id", Integer, primary_key=True, autoincrement=True)


# Every record of every tool, upserted by (source, kind, record_id); payload is the model.
# synced_at is when the payload last changed: a record read again unchanged keeps it.
records = Table(
    "records",
    metadata,
    source(primary_key=True),
    Column("kind", String(16), primary_key=True),
    record_id(primary_key=True),
    moment("updated_at"),
    Column("payload", JSON, nullable=False),
    moment("synced_at"),
    Index("ix_records_kind_synced", "kind", "synced_at"),
)

links = Table(
    "links",
    metadata,
    *record_key(),
    issue_key(primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("method", String(32), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("evidence", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="auto"),
)

# A person's word on a pair: confirmed pairs always link, rejected ones never again.
link_decisions = Table(
    "link_decisions",
    metadata,
    *record_key(),
    issue_key(primary_key=True),
    Column("decision", String(16), nullable=False),
    moment("decided_at"),
)

# One row per stream: the resume point, committed with the page it follows.
cursors = Table(
    "cursors",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    moment("updated_at"),
)

# What was last written to each issue in the tracker, so unchanged demand writes nothing.
publish_ledger = Table(
    "publish_ledger",
    metadata,
    issue_key(primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("comment_id", String(64)),
    Column("summary", JSON, nullable=False),
    moment("written_at"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    numbered_id(),
    source(nullable=False),
    Column("kind", String(16), nullable=False),
    record_id(),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    moment("created_at"),
    Column("resolved", Boolean, nullable=False, default=False),
)

runs = Table(
    "runs",
    metadata,
    numbered_id(),
    moment("started_at"),
    moment("finished_at", nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("stats", JSON, nullable=False),
)

# The last status pmsync saw per issue: a transition is a change from it, never a first sight.
issue_states = Table(
    "issue_states",
    metadata,
    issue_key(primary_key=True),
    Column("status_category", String(32), nullable=False),
    Column("released_versions", JSON, nullable=False),
    moment("seen_at"),
)

# Notes pmsync left on tickets and deals when an issue they asked for shipped: once each.
loop_notes = Table(
    "loop_notes",
    metadata,
    *record_key(),
    issue_key(primary_key=True),
    Column("transition", String(128), primary_key=True),
    Column("note_id", String(255)),
    moment("written_at"),
)

# One row per backfill: its parameters and its checkpoint. Windows are done in order, so
# `windows_done` is where a killed backfill resumes; `open_ended` marks one whose `until`
# was "now" when it started (re-running it without --until finds this row again).
backfills = Table(
    "backfills",
    metadata,
    numbered_id(),
    source(nullable=False),
    moment("since"),
    moment("until"),
    Column("open_ended", Boolean, nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("windows_total", Integer, nullable=False),
    Column("windows_done", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("records", Integer, nullable=False),
    Column("dead_letters", Integer, nullable=False),
    moment("started_at"),
    moment("updated_at"),
    moment("finished_at", nullable=True),
    Column("error", Text),
    Index("ix_backfills_source_since", "source", "since"),
)

# Issues whose demand must be recomputed and published: marked when their links change or
# a record they count changes; cleared once published. A failed run leaves them marked.
pending_issues = Table(
    "pending_issues",
    metadata,
    issue_key(primary_key=True),
    moment("marked_at"),
)

# What linking last saw of each issue (a hash of the key, labels, components, open or done,
# summary and description): an issue whose hash moved may link differently.
issue_signatures = Table(
    "issue_signatures",
    metadata,
    issue_key(primary_key=True),
    Column("signature", String(64), nullable=False),
)

# What linking last read of each feedback item and deal (a hash of its text, tags and
# creation time, or its name and issue keys), written with its links: a record that changed
# in nothing linking reads (a ticket solved, a deal's amount) keeps its links.
record_signatures = Table(
    "record_signatures",
    metadata,
    *record_key(),
    Column("signature", String(64), nullable=False),
)

# Values derived from other tables and kept to save rebuilding them each run (the account
# directory): `fingerprint` hashes everything a value was derived from, so a reader whose
# inputs differ rebuilds it instead of reading a stale one.
derived = Table(
    "derived",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("value", JSON, nullable=False),
    moment("saved_at"),
)

# Each open issue's text as text matching analysed it (linking.text_analysis.IssueAnalysis), kept so
# that building the index analyses only the issues whose text changed. `text_hash` hashes
# the text and the analysers' version: a row made from another text or analyser is not read.
text_analyses = Table(
    "text_analyses",
    metadata,
    issue_key(primary_key=True),
    Column("text_hash", String(64), nullable=False),
    Column("row_sizes", LargeBinary, nullable=False),
    Column("buckets", LargeBinary, nullable=False),
    Column("counts", LargeBinary, nullable=False),
    Column("terms", Text, nullable=False),
)

# One row per issue per publish: the numbers a write put on the ticket, when. The ledger
# keeps only the last write; this is the history `pmsync report` draws demand over time from.
demand_history = Table(
    "demand_history",
    metadata,
    numbered_id(),
    issue_key(nullable=False),
    moment("published_at"),
    Column("requests", Integer, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("open_pipeline", Float, nullable=False),
    Index("ix_demand_history_issue", "issue_key", "published_at"),
)

# A person's importance of a request (1 to 3, linking.importance), by the feedback item: it
# outweighs the ticket's priority, and no sync changes it.
request_importance = Table(
    "request_importance",
    metadata,
    *record_key(),
    Column("importance", Integer, nullable=False),
    moment("set_at"),
)
