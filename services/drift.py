"""Drift: what a person (or a lost race) changed of pmsync's writes on a tracker issue since
the ledger recorded them, found by comparing an issue read back from the tracker
(connectors.tracker.SeenIssue) with its ledger entry.

The ledger's hash alone says only what pmsync meant to write; a person who sets "Customer
Requests" to 999, edits or deletes the managed comment, or removes the property leaves it
unchanged. Each reconcile reads the issues back and services.publish rewrites the parts that
drifted: fields, labels, property and comment, each only when it differs, so a reconcile
with no drift writes nothing. Duplicated managed comments (two runs that once raced) are
healed at the same time: one is kept (the ledger's, else the newest), the others deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import parse_time
from connectors.tracker import SeenComment, SeenIssue, demand_digest

FIELDS = "fields"
LABELS = "labels"
PROPERTY = "property"
COMMENT_EDITED = "comment_edited"  # restored in place
COMMENT_GONE = "comment_gone"  # deleted (or never seen): posted again
DUPLICATES = "duplicates"  # extra managed comments deleted
EDIT_PARTS = frozenset({FIELDS, LABELS, PROPERTY})
COMMENT_PARTS = frozenset({COMMENT_EDITED, COMMENT_GONE})


@dataclass(frozen=True)
class Drift:
    """What to repair on one issue."""

    parts: frozenset[str] = frozenset()
    labels: tuple[str, ...] | None = None  # the labels the issue holds now, when read back
    comment_id: str | None = None  # the managed comment to keep writing to
    extra_comments: tuple[str, ...] = field(default=())  # duplicates to delete


def _same_number(seen: Any, written: int | float) -> bool:
    try:
        return seen is not None and float(seen) == float(written)
    except (TypeError, ValueError):
        return False


def _same_time(seen: str, recorded: Any) -> bool:
    """Whether the comment's `updated` read back is the one the tracker answered pmsync's
    write with; unknown (an entry older than this record) counts as the same."""
    if not recorded:
        return True
    try:
        return parse_time(seen, "updated") == parse_time(recorded, "updated")
    except ValueError:
        return seen == recorded


def _newest(comments: list[SeenComment]) -> SeenComment:
    def age(comment: SeenComment) -> tuple[str, int]:
        try:
            created = parse_time(comment.created, "created").isoformat()
        except ValueError:
            created = ""
        return created, int(comment.id) if comment.id.isdigit() else 0

    return max(comments, key=age)


def drift_of(
    seen: SeenIssue,
    ledger_comment: str | None,
    written: dict[str, Any] | None,
    fields: dict[str, int | float] | None,
    labels: set[str] | None,
    managed_labels: set[str],
    comment_updated: Any,
) -> Drift:
    """The drift of one issue read back (`seen`) from what the ledger says was written:
    `written` the property's content (None: no ledger entry), `fields` the field values
    by id and `labels` the demand labels, `ledger_comment` the managed comment's id and
    `comment_updated` the tracker's `updated` for it after pmsync's last write."""
    parts: set[str] = set()
    marked = [c for c in seen.comments if c.marked]
    # pmsync's own, when the tracker said who pmsync is: a person's comment quoting the marker
    # is neither kept as the managed one nor deleted.
    managed = [c for c in marked if c.mine] or marked
    ours = next((c for c in seen.comments if c.id == ledger_comment), None)
    # The ledger's comment is the one kept, even with its marker edited away (restored).
    if ours is not None and (ours in managed or ours.mine):
        kept: SeenComment | None = ours
    else:
        kept = _newest(managed) if managed else None
    extra = tuple(c.id for c in managed if c is not kept and c.mine)
    if extra:
        parts.add(DUPLICATES)
    comment_id = kept.id if kept else None
    if written is not None:
        if fields is not None and any(
            not _same_number(seen.fields.get(fid), value) for fid, value in fields.items()
        ):
            parts.add(FIELDS)
        if labels is not None and set(seen.labels) & managed_labels != labels:
            parts.add(LABELS)
        if seen.demand != demand_digest(written):
            parts.add(PROPERTY)
        if ledger_comment is not None:
            if kept is None:
                parts.add(COMMENT_GONE)  # deleted: posted again
            elif kept is not ours:
                parts.add(COMMENT_EDITED)  # ours deleted, another kept: rewritten
            elif not kept.marked or not _same_time(kept.updated, comment_updated):
                parts.add(COMMENT_EDITED)  # edited by a person: restored in place
    return Drift(frozenset(parts), tuple(seen.labels), comment_id, extra)
