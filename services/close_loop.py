"""Closing the loop: when a linked issue is done or its fix version is released, every
linked open ticket and open deal gets one internal note, once per record and transition."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from connectors import registry
from connectors.http import ApiError
from connectors.notes import NoteWriter, marker
from connectors.settings import Settings
from models import Deal, Feedback, Issue, Link, RecordKind
from store import Store

log = logging.getLogger("pmsync.loop")

# When the issues' states were last saved: issues unchanged since have none to announce.
SEEN = "loop:seen"


def transitions(issue: Issue, before: tuple[str, set[str]] | None) -> list[str]:
    """What shipped since pmsync last looked; nothing on first sight (no history to tell)."""
    if before is None:
        return []
    category, released = before
    found = []
    if issue.status_category == "done" and category != "done":
        found.append("done")
    found += [f"released {v}" for v in sorted(set(issue.released_versions) - released)]
    return found


def close_loop(
    settings: Settings, store: Store, writers: dict[str, NoteWriter] | None = None
) -> dict[str, int]:
    """Notes for the transitions since the last look, and again for those that failed before.

    A note that fails (a refused scope, a tool down) is kept pending in the notes ledger and
    tried again by every later run until it lands; its transition is never used up. The
    counts: notes written, records skipped (closed, or their tool writes no notes), notes
    that failed this run, and notes pending after it."""
    counts = {"notified": 0, "skipped": 0, "failed": 0, "pending": 0}
    started = datetime.now(UTC)
    # An issue whose payload has not changed since the last look keeps the state saved then,
    # so it has no transition: only the issues changed since are read (all, the first time).
    last = store.cursors.get(SEEN)
    issues = {
        issue.key: issue
        for issue in store.records.changed_since(
            RecordKind.ISSUE, datetime.fromisoformat(last) if last else None
        )
    }
    states = store.loop.issue_states(issues)
    due = [(key, t) for key, issue in issues.items() for t in transitions(issue, states.get(key))]
    pending = store.loop.pending()
    if due or pending:
        links_of: dict[str, list[Link]] = {}
        for link in store.links.of_issues({key for key, _ in due}):
            links_of.setdefault(link.issue_key, []).append(link)
        notes = sorted(
            {
                (link.source, link.record_id, key, transition)
                for key, transition in due
                for link in links_of.get(key, [])
            }
            | pending
        )
        issues.update(
            (i.key, i)
            for i in store.records.issues_by_key({k for _, _, k, _ in notes} - set(issues))
        )
        owners = {(source, record_id) for source, record_id, _, _ in notes}
        records: dict[tuple[str, str], Feedback | Deal] = {
            (r.source, r.id): r
            for r in [
                *store.records.load_pairs(RecordKind.FEEDBACK, owners),
                *store.records.load_pairs(RecordKind.DEAL, owners),
            ]
        }
        noted = store.loop.noted()
        writers = writers if writers is not None else {}
        moot = []
        for note in notes:
            source, record_id, key, transition = note
            record = records.get((source, record_id))
            if record is None or not record.is_open or key not in issues:
                counts["skipped"] += 1
                moot.append(note)
                continue
            if note in noted:
                continue
            writer = writers.get(source) or _writer(settings, source, writers)
            if writer is None:
                counts["skipped"] += 1
                moot.append(note)
                continue
            try:
                note_id = notify(writer, issues[key], transition, record_id, settings)
            except ApiError as error:
                # Kept pending: the next run tries again (a missing scope, a tool down).
                counts["failed"] += 1
                log.error(
                    "note on %s %s failed, kept for the next run: %s", source, record_id, error
                )
                store.loop.record_note(source, record_id, key, transition, None)
                continue
            store.loop.record_note(source, record_id, key, transition, note_id)
            counts["notified"] += 1
        store.loop.drop_pending(n for n in moot if n in pending)
    # Saved last: a run that dies before this sees the same transitions again, and the
    # notes ledger (and the markers) keep them from being written twice.
    store.loop.save_issue_states(
        {key: (i.status_category, set(i.released_versions)) for key, i in issues.items()}
    )
    store.cursors.set(SEEN, started.isoformat())
    counts["pending"] = len(store.loop.pending())
    if due or pending:
        log.info("closing the loop on %d transitions: %s", len(due), counts)
    return counts


def _writer(settings: Settings, source: str, cache: dict[str, NoteWriter]) -> NoteWriter | None:
    """The tool's note writer (its vendor's `notes`: support tools and CRMs), made once."""
    vendor = registry.find(source)
    if vendor is None or vendor.notes is None:
        return None
    cache[source] = vendor.notes(settings)
    return cache[source]


def notify(
    writer: NoteWriter, issue: Issue, transition: str, record_id: str, settings: Settings
) -> str:
    mark = marker(issue.key, transition)
    existing = writer.find(record_id, mark)
    if existing:
        return existing
    status = issue.status if transition == "done" else transition
    text = settings.close_loop_note.format(
        key=issue.key, summary=issue.summary, status=status, url=issue.url
    )
    return writer.add(record_id, f"{text}\n{mark}", mark)
