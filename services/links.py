"""Linking as a service: every record's links recomputed (`link_all`) or some records'
(`relink`), by one sequence of signals (explicit keys and the tools' own links, then tags
mapped to labels, then text similarity for feedback that names no issue), with people's
decisions applied last: a confirm or reject is never overridden by a run."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from connectors import registry
from connectors.settings import Settings
from linking.proposals import proposed_link
from linking.references import Words, deal_links, feedback_links, tag_links
from linking.text_links import text_linker, text_links
from models import Deal, Feedback, Issue, Link, RecordKind, ToolLink
from services import invalidation
from store import Store

log = logging.getLogger("pmsync.sync")

Owner = tuple[str, str]  # (source, record_id) as links name their record

# Records a full relink reads, links and writes at a time: their objects, and the
# allocator's leftovers between chunks, are what its memory holds beyond the text index.
LINK_CHUNK = 1000


@dataclass
class Signals:
    """What links a record by what it says itself: the issue keys known, the open issues
    under each label, the tools' own links of each ticket and the tags mapped to labels."""

    known_keys: set[str]
    issues_by_label: dict[str, set[str]]
    by_ticket: dict[Owner, list[ToolLink]]
    tag_targets: dict[str, set[str]]
    words: Words

    @classmethod
    def of(cls, settings: Settings, issues: list[Issue], tool_links: Iterable[ToolLink]) -> Signals:
        by_ticket: dict[Owner, list[ToolLink]] = {}
        for tool_link in tool_links:
            by_ticket.setdefault(tool_link.target, []).append(tool_link)
        keys = {issue.key for issue in issues}
        return cls(
            keys, open_issues_by_label(issues), by_ticket, settings.tag_targets, evidence_words()
        )

    def links(self, records: Iterable[Feedback | Deal]) -> tuple[list[Link], list[Feedback]]:
        """The records' links from their own signals, in the records' order, and the
        feedback that names no issue: text matching guesses only for those."""
        links: list[Link] = []
        unnamed: list[Feedback] = []
        for record in records:
            tools = self.by_ticket.get((record.source, record.id), [])
            if isinstance(record, Deal):
                links.extend(deal_links(record, self.known_keys, tools, words=self.words))
                continue
            found = feedback_links(record, tools, self.known_keys, words=self.words)
            explicit = {link.issue_key for link in found}
            found += [
                link
                for link in tag_links(record, self.tag_targets, self.issues_by_label)
                if link.issue_key not in explicit
            ]
            links.extend(found)
            if not found:
                unnamed.append(record)
        return links, unnamed


def evidence_words() -> Words:
    """How link evidence names the tracker and the CRMs' issue-key fields: the registry's."""
    fields = {v.name: v.deal_keys_field for v in registry.vendors() if v.deal_keys_field}
    return Words(registry.tracker().shown_as, fields)


def write_links(
    store: Store,
    records: Iterable[Feedback | Deal],
    links: list[Link],
    decisions: dict[tuple[str, str, str], str],
    known_keys: set[str],
    owners: Iterable[Owner] | None = None,
) -> list[Link]:
    """The records' links, with people's decisions applied, replace the links of `owners`
    (the records, and any gone since). Returns the links written."""
    records = list(records)
    kinds = {(r.source, r.id): "deal" if isinstance(r, Deal) else "feedback" for r in records}
    links = apply_decisions(links, decisions, kinds, known_keys)
    signed = {(r.source, r.id): record_signature(r) for r in records}
    invalidation.replace_links(store, kinds if owners is None else owners, links, signed)
    return links


def link_all(settings: Settings, store: Store) -> int:
    """Recompute every link from the stored records, then apply people's decisions, which
    no run overrides. Records are read, linked and their links written a chunk at a time:
    memory holds one chunk's links however many there are. A relink that dies halfway
    leaves each record's links whole, old or new, and a reconcile that was due stays due.
    Returns the number of links that count in demand."""
    issues = store.records.load(RecordKind.ISSUE)
    signals = Signals.of(settings, issues, store.records.load(RecordKind.TOOL_LINK))
    text = None
    if settings.text_matching:
        text = text_linker(
            issues, settings.text_auto_threshold, settings.text_suggest_threshold, store
        )
    del issues
    decisions = store.links.decisions()
    counted = suggested = 0
    feedback = store.records.iter_load(RecordKind.FEEDBACK, size=LINK_CHUNK)
    chunks: Iterable[list[Feedback] | list[Deal]] = chain(
        feedback, store.records.iter_load(RecordKind.DEAL, size=LINK_CHUNK)
    )
    for chunk in chunks:
        links, unnamed = signals.links(chunk)
        if text and unnamed:
            links += text(unnamed)
        links = write_links(store, chunk, links, decisions, signals.known_keys)
        counted += sum(1 for link in links if link.counts)
        suggested += sum(1 for link in links if not link.counts)
    invalidation.drop_orphan_links(store)
    log.info("%d links (%d suggested)", counted, suggested)
    return counted


def open_issues_by_label(issues: Iterable[Issue]) -> dict[str, set[str]]:
    """The keys of the open issues under each label and component (lower case): what a
    mapped tag links to."""
    found: dict[str, set[str]] = {}
    for issue in issues:
        if issue.status_category != "done":
            for label in (*issue.labels, *issue.components):
                found.setdefault(label.lower(), set()).add(issue.key)
    return found


def relink(
    settings: Settings,
    store: Store,
    records: list[Feedback | Deal],
    gone: Iterable[tuple[str, str]] = (),
    issues: list[Issue] | None = None,
) -> int:
    """`link_all`'s rules for some feedback items and deals only, with `gone` the (source,
    id) of records deleted since. Which records an issue's change moves is the caller's to
    say (services.incremental.relink_around). Text matching runs only for the items that
    name no issue. `issues`: the stored issues, when the caller has them. Returns the links
    that count."""
    issues = store.records.load(RecordKind.ISSUE) if issues is None else issues
    owners = {(r.source, r.id) for r in records} | set(gone)
    tool_links = [t for t in store.records.load(RecordKind.TOOL_LINK) if t.target in owners]
    signals = Signals.of(settings, issues, tool_links)
    links, unnamed = signals.links(records)
    if settings.text_matching and unnamed:
        links += text_links(
            unnamed, issues, settings.text_auto_threshold, settings.text_suggest_threshold, store
        )
    links = write_links(store, records, links, store.links.decisions(), signals.known_keys, owners)
    return sum(1 for link in links if link.counts)


def record_signature(record: Feedback | Deal) -> str:
    """What linking reads of a record: a feedback item's text, tags and creation time (the
    time prior), a deal's name and issue keys. A record that changed in nothing else (a
    ticket solved, a deal's amount) links as before; a change to linking that reads more
    of a record must add it here."""
    if isinstance(record, Deal):
        seen: list[Any] = [record.name, list(record.issue_keys)]
    else:
        created = record.created_at.isoformat() if record.created_at else None
        seen = [record.subject, record.body, list(record.tags), created]
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()


def apply_decisions(
    links: list[Link],
    decisions: dict[tuple[str, str, str], str],
    kinds: dict[tuple[str, str], str],
    known_keys: set[str],
) -> list[Link]:
    """Rejected pairs disappear for good; confirmed pairs link whatever the run found; a
    pair suggested when an issue was proposed from a theme waits for a person."""
    kept: dict[tuple[str, str, str], Link] = {}
    for link in links:
        pair = (link.source, link.record_id, link.issue_key)
        decision = decisions.get(pair)
        if decision == "rejected":
            continue
        if decision == "confirmed":
            link = link.model_copy(update={"status": "confirmed"})
        kept.setdefault(pair, link)
    for (source, record_id, key), decision in decisions.items():
        pair = (source, record_id, key)
        kind = kinds.get((source, record_id))
        if decision == "confirmed" and pair not in kept and kind and key in known_keys:
            kept[pair] = Link(
                source=source,
                record_id=record_id,
                kind="deal" if kind == "deal" else "feedback",
                issue_key=key,
                method="confirmed",
                evidence="confirmed by a person",
                status="confirmed",
            )
        elif (
            decision == "suggested"
            and pair not in kept
            and kind == "feedback"
            and key in known_keys
        ):
            kept[pair] = proposed_link(source, record_id, key)
    return list(kept.values())
