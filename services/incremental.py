"""Incremental linking and demand: a sync relinks only the records that changed since the
last one and sums only the issues they touch; a reconcile redoes everything.

What changed is read from the store, never passed between steps, so a run that died
halfway leaves nothing behind: the watermarks below move only when their step is done.

- Records: the store rewrites a record only when its payload changed (its `synced_at`
  moves), so "changed since the last link" is one indexed query. Of those, only the ones
  whose hash of what linking reads (`record_signature`, kept with their links) moved are
  relinked: a solved ticket or a deal's new amount links as before. A record a person
  confirmed or rejected a link of since then is relinked too.
- Issues: linking reads keys, labels, components, open or done, summary and description.
  Their hash is kept per issue; an issue whose hash moved, new or gone has the records that
  link to it relinked, with those that cite the key of a new one or carry a tag mapped to
  its labels.
  Feedback whose words match an edited issue's new text is found at the next reconcile.
- Issues to publish: the store marks them pending when their links move or a record they
  count is deleted; this module marks those a changed feedback item, deal or account
  touches. Publishing clears the ones it wrote or found unchanged; a failed one stays.
- Webhook events (a scope of these records, services.apply) relink through `relink_around`
  by the same rules.

A reconcile relinks every record and sums every issue: on `--full`, on the first run, when
a setting in SHAPING changes, after a tool link was deleted (its tickets are unknown once it
is gone), and every `PMSYNC_RECONCILE_HOURS`. It also catches what only time changes, such
as the 30-day trend and the revenue window.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path

from connectors import registry
from connectors.settings import Settings
from models import Deal, DemandSummary, Feedback, Issue, Link, RecordKind, ToolLink
from services.demand import account_directory, demand, issues_asked_by
from services.links import LINK_CHUNK, link_all, record_signature, relink
from services.scope import Changes, Owner
from store import EVERY_ISSUE, RELINK_ALL, Store

log = logging.getLogger("pmsync.sync")

LINKED = "pipeline:linked"
SUMMED = "pipeline:summed"
RECONCILED = "pipeline:reconciled"
SETTINGS = "pipeline:settings"
# With each tool's own (connectors.registry.Vendor.shaping).
SHAPING = {
    "demand_labels",
    "account_map",
    "tag_map",
    "text_matching",
    "text_auto_threshold",
    "text_suggest_threshold",
    "revenue_window_days",
    "revenue_from",
    "free_mail_domains",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _mark(store: Store, stream: str) -> datetime | None:
    value = store.cursors.get(stream)
    return datetime.fromisoformat(value) if value else None


def issue_signature(issue: Issue, managed: set[str]) -> str:
    """What linking reads of an issue; pmsync's own demand labels left out."""
    seen = [
        issue.key,
        issue.status_category == "done",
        sorted(label for label in issue.labels if label not in managed),
        sorted(issue.components),
        issue.summary,
        issue.description,
    ]
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()


def signatures(settings: Settings, issues: Iterable[Issue]) -> dict[str, str]:
    managed = {label for label, _ in settings.demand_label_rules}
    return {issue.key: issue_signature(issue, managed) for issue in issues}


def settings_fingerprint(settings: Settings) -> str:
    """The settings that shape links, numbers and what is written: when one changes, the
    next sync reconciles."""
    shaping = settings.model_dump(mode="json", include=SHAPING | registry.shaping())
    if settings.account_map and Path(settings.account_map).is_file():
        shaping["account_map"] = hashlib.sha256(Path(settings.account_map).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def reconcile_due(settings: Settings, store: Store, full: bool) -> bool:
    """Whether this run relinks and sums everything."""
    last = _mark(store, RECONCILED)
    if full or last is None or _mark(store, LINKED) is None or _mark(store, SUMMED) is None:
        return True
    if store.cursors.get(RELINK_ALL) or store.cursors.get(SETTINGS) != settings_fingerprint(
        settings
    ):
        return True
    return _now() - last >= timedelta(hours=settings.reconcile_hours)


def reconciled(settings: Settings, store: Store, started: datetime) -> None:
    """A reconcile is done: the next ones are due from when it started."""
    store.cursors.set(RECONCILED, started.isoformat())
    store.cursors.set(SETTINGS, settings_fingerprint(settings))
    store.cursors.reset(RELINK_ALL)


def link_step(settings: Settings, store: Store, everything: bool) -> int:
    """Link every record, or only what changed since the last link step. Returns the
    links that count in demand, all of them."""
    started = _now()
    if everything:
        link_all(settings, store)
        issues = chain.from_iterable(store.records.iter_load(RecordKind.ISSUE, size=LINK_CHUNK))
        store.links.save_issue_signatures(signatures(settings, issues))
    else:
        link_changes(settings, store, _mark(store, LINKED))
    store.cursors.set(LINKED, started.isoformat())
    return store.links.count()


def link_changes(settings: Settings, store: Store, since: datetime | None) -> int:
    """Relink the feedback and deals that changed since `since`, those whose tool links
    changed or a person decided on, and those an issue's change may move. Returns the
    links that count among them."""
    changed: list[Feedback | Deal] = [
        *store.records.changed_since(RecordKind.FEEDBACK, since),
        *store.records.changed_since(RecordKind.DEAL, since),
    ]
    tool_links: list[ToolLink] = store.records.changed_since(RecordKind.TOOL_LINK, since)
    also = {t.target for t in tool_links} | store.links.decided_since(since)
    return relink_around(settings, store, changed, also)


def relink_around(
    settings: Settings,
    store: Store,
    changed: list[Feedback | Deal],
    also: Iterable[tuple[str, str]] = (),
) -> int:
    """Relink those of `changed` (stored already) that changed in what linking reads, the
    records `also` names (gone ones lose their links), and those an issue's change may
    move: the records that link to an issue whose signature moved, cite a new issue's key
    (others link already) or carry a tag mapped to its labels. Marks the issues of changed
    records pending and keeps the issues' signatures for next time."""
    signed = store.links.record_signatures((r.source, r.id) for r in changed)
    relinked = [r for r in changed if signed.get((r.source, r.id)) != record_signature(r)]
    issues = store.records.load(RecordKind.ISSUE)
    now_seen = signatures(settings, issues)
    before = store.links.issue_signatures()
    moved = {key for key, sig in now_seen.items() if before.get(key) != sig}
    moved |= set(before) - set(now_seen)
    owners = {(r.source, r.id) for r in relinked} | set(also)
    if moved:
        owners |= {(link.source, link.record_id) for link in store.links.of_issues(moved)}
        tags = {
            tag
            for tag, targets in settings.tag_targets.items()
            for issue in issues
            if issue.key in moved and targets & {x.lower() for x in issue.labels + issue.components}
        }
        # A record that cites a known issue links to it already (found above); only the
        # keys new to linking can be cited by records that did not link.
        new_keys = set(now_seen) - set(before)
        owners |= store.records.mentioning(
            (RecordKind.FEEDBACK, RecordKind.DEAL), new_keys | {f'"{t}"' for t in tags}
        )
    loaded = {(r.source, r.id): r for r in changed}
    wanted = owners - set(loaded)
    records: list[Feedback | Deal] = [
        *store.records.load_pairs(RecordKind.FEEDBACK, wanted),
        *store.records.load_pairs(RecordKind.DEAL, wanted),
        *(record for pair, record in loaded.items() if pair in owners),
    ]
    gone = owners - {(r.source, r.id) for r in records}
    counted = relink(settings, store, records, gone, issues) if owners else 0
    # A changed record's numbers (an amount, a quote) move its issues even when its links
    # did not: those are marked here; links that moved were marked
    # with them (services.invalidation).
    store.ledger.mark_pending(link.issue_key for link in store.links.of_owners(loaded))
    store.links.save_issue_signatures(now_seen)
    log.info(
        "relinked %d records (%d of %d changed ones changed what links read, %d issues "
        "changed, %d records gone)",
        len(records),
        len(relinked),
        len(changed),
        len(moved),
        len(gone),
    )
    return counted


def demand_step(settings: Settings, store: Store, everything: bool) -> Mapping[str, DemandSummary]:
    """The summaries to publish: every issue's on a reconcile, else the pending issues'
    and those of the customers whose deals or accounts changed."""
    started = _now()
    summaries: Mapping[str, DemandSummary]
    if everything:
        summaries = demand(settings, store)
    else:
        summaries = demand_changes(settings, store, _mark(store, SUMMED))
    store.cursors.set(SUMMED, started.isoformat())
    return summaries


def demand_changes(
    settings: Settings, store: Store, since: datetime | None
) -> Mapping[str, DemandSummary]:
    if EVERY_ISSUE in store.ledger.pending() or store.records.changed_since(
        RecordKind.ACCOUNT, since
    ):
        # Accounts merge and split customers, a deleted deal leaves no trace of whose it
        # was: every issue's numbers may move.
        return demand(settings, store)
    deals = store.records.changed_since(RecordKind.DEAL, since)
    if not deals and not store.ledger.pending():
        return {}
    directory = account_directory(settings, store)
    customers = {c.key for deal in deals for c in directory.for_deal(deal)}
    if customers:
        store.ledger.mark_pending(issues_asked_by(store, directory, customers))
    # Only the pending issues' links, and the feedback they name, are read: not every one.
    return demand(settings, store, among=store.ledger.pending(), directory=directory)


def relink_changes(settings: Settings, store: Store, changes: Changes) -> set[str]:
    """Relink around records read back one by one (`relink_around`'s rules). Returns the
    issues they move: those linked to the named records before or after, those whose
    counted links moved, and the changed or named issues."""
    issues = [r for r in changes.changed if isinstance(r, Issue)]
    relinked = {(r.source, r.id): r for r in changes.changed if isinstance(r, Feedback | Deal)}
    # Gone records, and those whose tool links moved (their fields may not have), are
    # relinked whatever changed in them.
    also = {
        (source, record_id)
        for (source, kind), ids in changes.deleted.items()
        if kind in ("feedback", "deal")
        for record_id in ids
    }
    also |= {(r.source, r.id) for r in changes.links_changed if isinstance(r, Feedback | Deal)}
    if relinked or also or issues or changes.deleted.get((registry.tracker().name, "issue")):
        # An issue's change moves the records that link to it, cite it or carry its tags.
        relink_around(settings, store, list(relinked.values()), also)
    before, after = changes.links_before, store.links.all()
    affected = _issues_linked(before, changes.owners) | _issues_linked(after, changes.owners)
    # A relink over everything (an issue changed) can move links of other records too.
    affected |= {link.issue_key for link in set(before) ^ set(after) if link.counts}
    affected |= {issue.key for issue in issues} | changes.named
    for key, payload in changes.before.items():
        if key[1] == "issue" and isinstance(payload, dict) and payload.get("key"):
            affected.add(payload["key"])
    return affected


def _issues_linked(links: Iterable[Link], owners: set[Owner] | frozenset[Owner]) -> set[str]:
    return {link.issue_key for link in links if (link.source, link.record_id) in owners}


def demand_of_changes(
    settings: Settings,
    store: Store,
    changes: Changes,
    affected: set[str],
    now: datetime | None = None,
) -> Mapping[str, DemandSummary]:
    """The demand of the `affected` issues and, for a deal, of every issue its customers
    asked for (their deals count on those issues too). A company's change can join or
    split customers across tools: then every issue is recomputed, and the ledger writes
    only those that moved."""
    accounts_moved = any(key[1] == "account" for key in changes.before) or any(
        kind == "account" for _, kind in changes.deleted
    )
    if accounts_moved:
        return demand(settings, store, now)
    # The deal as it is now and as it was (moved between companies, or deleted).
    deals = [r for r in changes.changed if isinstance(r, Deal)]
    deals += [
        Deal.model_validate(payload)
        for (_, kind, _), payload in changes.before.items()
        if kind == "deal" and payload
    ]
    directory = account_directory(settings, store)
    customers = {c.key for deal in deals for c in directory.for_deal(deal)}
    if customers:
        affected |= issues_asked_by(store, directory, customers)
    return demand(settings, store, now, among=affected, directory=directory)
