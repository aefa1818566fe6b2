"""One sync cycle as plain functions: pull every source, link, publish.

Flows wrap these steps as Prefect tasks; tests call them directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from connectors.base import (
    Connector,
    DuplicatePageToken,
    Page,
    clamped_cursor,
    cursor_time,
    failure_reason,
)
from connectors.freshdesk import FreshdeskConnector
from connectors.http import ApiError, AuthError, NotAnAnswer, RetryableError
from connectors.hubspot import HubSpotConnector
from connectors.intercom import IntercomConnector
from connectors.jira import JiraConnector
from connectors.lookup import InvalidRecord, Lookup
from connectors.salesforce import SalesforceConnector
from connectors.zendesk import ZendeskConnector
from flows.budgets import install_budgets
from flows.close_loop import close_loop
from flows.publish import publish_all
from linking.accounts import RULES as ACCOUNT_RULES
from linking.accounts import AccountDirectory, read_account_map
from linking.demand import DemandCalculator
from linking.references import deal_links, feedback_links, tag_links
from linking.text_links import text_linker, text_links
from models import (
    ConfigError,
    Deal,
    DemandSummary,
    Feedback,
    Issue,
    Link,
    Record,
    RecordKind,
    Settings,
    ToolLink,
)
from services import invalidation
from store import DeadLetter, Store
from store.leases import exclusive

log = logging.getLogger("pmsync.sync")
Step = Callable[[Callable[..., Any]], Callable[..., Any]]
# What a cycle tells whoever watches it (the CLI's progress bars): ("page", tool, records
# in the page), ("pulled", tool, records), ("failed", tool, 0), ("step", name, 0) when
# link/sum/publish/close-loop starts and ("done", name, count) when it ends.
Progress = Callable[[str, str, int], None]


def _unwatched(event: str, name: str, count: int) -> None:
    pass


CONNECTORS: dict[str, Callable[[Settings], Connector]] = {
    "jira": JiraConnector,
    "zendesk": ZendeskConnector,
    "intercom": IntercomConnector,
    "freshdesk": FreshdeskConnector,
    "hubspot": HubSpotConnector,
    "salesforce": SalesforceConnector,
}


@dataclass
class SyncResult:
    pulled: dict[str, int] = field(default_factory=dict)
    # tool -> what failed and the setting to fix: that tool's pull only, the rest went on
    failed: dict[str, str] = field(default_factory=dict)
    # tool -> {optional feature -> why it is off and what to change}
    missing: dict[str, dict[str, str]] = field(default_factory=dict)
    # stream -> why its cursor was moved back (it was ahead of the clock)
    clamped: dict[str, str] = field(default_factory=dict)
    dead_letters: int = 0
    links: int = 0
    published: dict[str, int] = field(
        default_factory=lambda: {"written": 0, "unchanged": 0, "failed": 0}
    )
    duration_s: float = 0.0
    moved: list[dict[str, Any]] = field(default_factory=list)
    # closing-the-loop notes: written, skipped, failed this run, pending for the next runs
    notes: dict[str, int] = field(default_factory=dict)
    # A reconcile's drift repairs (flows.drift: part -> issues, and "issues"); None when
    # the run read nothing back.
    repaired: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pulled": self.pulled,
            "failed": self.failed,
            "missing": self.missing,
            "clamped": self.clamped,
            "dead_letters": self.dead_letters,
            "links": self.links,
            "published": self.published,
            "notes": self.notes,
            "repaired": self.repaired,
            "duration_s": round(self.duration_s, 2),
        }


@dataclass
class PullOutcome:
    """One tool's pull: what it stored, and the optional features it found missing."""

    stored: int = 0
    dead: int = 0
    missing: dict[str, str] = field(default_factory=dict)
    clamped: dict[str, str] = field(default_factory=dict)  # stream -> why it was moved


class ToolFailed(Exception):
    """A tool's pull that could not finish; the message names the tool and what to fix.

    Its pages committed before the failure stay, each with its own cursor."""

    def __init__(self, tool: str, message: str, missing: dict[str, str]) -> None:
        super().__init__(message)
        self.tool = tool
        self.missing = missing


def pull_source(
    settings: Settings,
    store: Store,
    source: str,
    full: bool,
    progress: Progress | None = None,
) -> PullOutcome:
    """Pull one tool page by page; each page is committed with its cursor. An expected
    failure (the tool unreachable, credentials refused, a refused request) is raised as
    ToolFailed with what to fix."""
    connector = CONNECTORS[source](settings)
    missing: dict[str, str] = getattr(connector, "missing", {})
    clamped: dict[str, str] = {}
    cursors = cursors_not_ahead(store, source, datetime.now(UTC), clamped)
    try:
        outcome = _pull_pages(
            settings, store, source, full, connector, cursors, progress or _unwatched
        )
    except EXPECTED_FAILURES as error:
        raise ToolFailed(source, tool_failure(source, error), dict(missing)) from error
    outcome.missing, outcome.clamped = dict(missing), clamped
    for feature, reason in missing.items():
        log.warning("%s: %s is off: %s", source, feature, reason)
    return outcome


# How far a cursor may be ahead of this machine's clock before it is distrusted: tools'
# clocks and ours differ by seconds, not minutes.
CLOCK_SKEW = timedelta(minutes=5)


def cursors_not_ahead(
    store: Store, source: str, started: datetime, clamped: dict[str, str]
) -> Callable[[str], Any]:
    """The saved cursors, except one later than the run's start (a clock that ran ahead,
    a hand edit): resuming from it would skip everything between. It is moved back to the
    newest change the store holds from the tool, and said so in the run and `status`."""

    def read(stream: str) -> Any:
        saved = store.cursors.get(stream)
        at = cursor_time(saved)
        if at is None or at <= started + CLOCK_SKEW:
            return saved
        newest = store.records.newest_change(source)
        clamped[stream] = (
            f"cursor {at.isoformat()} was ahead of the clock; read again from "
            f"{newest.isoformat() if newest else 'the beginning'}"
        )
        log.warning("%s: %s", stream, clamped[stream])
        return clamped_cursor(saved, newest)

    return read


def _pull_pages(
    settings: Settings,
    store: Store,
    source: str,
    full: bool,
    connector: Connector,
    cursors: Callable[[str], Any],
    progress: Progress = _unwatched,
) -> PullOutcome:
    stored = dead = 0
    named: set[str] = set()  # the accounts the pulled feedback names
    for page in prefetched(connector.pull(cursors, full=full)):
        if page.complete_ids is not None:
            refuse_mass_delete(settings, store, page)  # before the page's cursor is saved
        invalidation.save_page(
            store,
            page.records,
            page.dead,
            page.stream if page.cursor is not None else None,
            page.cursor,
            deleted=(page.source, page.kind, page.deleted_ids),
        )
        store.dead_letters.resolve(page.source, page.kind, (r.id for r in page.records))
        if page.complete_ids is not None:
            invalidation.prune(store, page.source, page.kind, page.complete_ids)
        stored += len(page.records)
        dead += len(page.dead)
        progress("page", source, len(page.records) + len(page.dead))
        named |= accounts_named(page.records).get(source, set())
        if page.dead:
            log.warning(
                "%s: %d invalid %s records sent to the dead letters",
                source,
                len(page.dead),
                page.kind,
            )
    if named:
        found, invalid = read_named_accounts(settings, store, {source: named})
        stored, dead = stored + found, dead + invalid
    log.info("%s: %d records pulled, %d dead letters", source, stored, dead)
    return PullOutcome(stored, dead)


class MassDeleteRefused(Exception):
    """A full listing that would delete more of a stream than PMSYNC_MAX_DELETE_SHARE."""


def refuse_mass_delete(settings: Settings, store: Store, page: Page) -> None:
    """Deletions inferred from a listing (what a full read did not name) are trusted only
    up to a share of what is stored: a listing that lost most of its records more likely
    lied (a 200 with an error, a permission change) than the tool lost them."""
    assert page.complete_ids is not None
    gone, stored = store.records.prune_count(page.source, RecordKind(page.kind), page.complete_ids)
    if settings.allow_mass_delete or gone <= settings.max_delete_share * stored:
        return
    raise MassDeleteRefused(
        f"{page.source}: a full read of {page.kind} records names {len(page.complete_ids)} "
        f"of the {stored} stored: deleting {gone} ({gone / stored:.0%}) is past "
        f"PMSYNC_MAX_DELETE_SHARE ({settings.max_delete_share:.0%}), so nothing was deleted. "
        "If the tool really lost them, run `pmsync sync --full --allow-mass-delete`"
    )


# The store-wide lease of the runs that link and publish (sync, backfill, webhook events,
# `pmsync publish`, replay): their relinks would collide, and their writes double.
WRITER_LEASE = "writer"


# Failures that end one tool's pull and are explained, not shown as a traceback.
EXPECTED_FAILURES = (
    ApiError,
    DuplicatePageToken,
    MassDeleteRefused,
    requests.RequestException,
    ConfigError,
)


def tool_failure(tool: str, error: Exception) -> str:
    """One line on a failed pull: what went wrong and the setting to look at."""
    from flows.check import URL_SETTINGS

    if isinstance(error, NotAnAnswer):
        return f"{error}: no answer the API documents; the next run tries again"
    if isinstance(error, RetryableError) and error.status is None:
        return f"{error}: unreachable; check {URL_SETTINGS.get(tool, 'its URL')}"
    if isinstance(error, AuthError):
        return str(error)  # it names the credential settings
    if isinstance(error, RetryableError):
        return f"{tool}: kept failing ({error}); the next run tries again"
    text = str(error)
    return text if text.startswith(f"{tool}:") else f"{tool}: {text}"


# Tools whose account listing has no change-time filter: it is read in full only now and
# then (connectors.base.listing_read), and in between an account that pulled feedback
# names but the store lacks is read by itself, so a new customer counts at once.
NAMED_ACCOUNTS_READ = {"intercom": "company", "freshdesk": "company"}  # tool -> its name


def accounts_named(records: Iterable[Record]) -> dict[str, set[str]]:
    """The accounts these records' feedback names, by tool, for the tools above."""
    named: dict[str, set[str]] = {}
    for r in records:
        if isinstance(r, Feedback) and r.source in NAMED_ACCOUNTS_READ and r.account_id:
            named.setdefault(r.source, set()).add(r.account_id)
    return named


def read_named_accounts(
    settings: Settings, store: Store, named: Mapping[str, set[str]]
) -> tuple[int, int]:
    """Read and store the accounts `named` (by tool) that the store lacks, one request
    each (a few: most feedback comes from known customers). One gone from the tool is
    skipped; one that does not validate goes to the dead letters. Returns (stored, dead
    letters)."""
    lookup = Lookup(settings)
    stored = dead_letters = 0
    for source, ids in named.items():
        missing = sorted(ids - set(store.records.stored_versions(source, RecordKind.ACCOUNT, ids)))
        if not missing:
            continue
        found: list[Record] = []
        dead: list[DeadLetter] = []
        for account_id in missing:
            try:
                record = lookup.fetch(source, NAMED_ACCOUNTS_READ[source], account_id)
            except InvalidRecord as error:
                reason = failure_reason(error.error)
                dead.append(DeadLetter(source, "account", account_id, reason, error.raw))
                continue
            if record is not None:
                found.append(record)
        store.records.save_page(found, dead)
        store.dead_letters.resolve(source, "account", (r.id for r in found))
        log.info("%s: %d accounts new to the store read by id", source, len(found))
        stored, dead_letters = stored + len(found), dead_letters + len(dead)
    return stored, dead_letters


def prefetched(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """The same pages, fetched ahead by a thread while the caller stores the last one: the
    wait for the API overlaps the store's writes. Each page is still stored, with its
    cursor, before the next is taken, and an error in the fetch is raised here, in order."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the caller, raised there
            put(("error", error))
        finally:
            close = getattr(pages, "close", None)
            if close:
                close()

    worker = threading.Thread(target=fetch, name="pmsync-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = ahead.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


# Records a full relink reads, links and writes at a time: their objects, and the
# allocator's leftovers between chunks, are what its memory holds beyond the text index.
LINK_CHUNK = 1000


def link_all(settings: Settings, store: Store) -> int:
    """Recompute every link from the stored records, then apply people's decisions, which
    no run overrides. Records are read, linked and their links written a chunk at a time:
    memory holds one chunk's links however many there are. A relink that dies halfway
    leaves each record's links whole, old or new, and a reconcile that was due stays due.
    Returns the number of links that count in demand."""
    issues = store.records.load(RecordKind.ISSUE)
    known_keys = {issue.key for issue in issues}
    targets = settings.tag_targets
    issues_by_label = open_issues_by_label(issues)
    by_ticket: dict[tuple[str, str], list[ToolLink]] = {}
    for tool_link in store.records.load(RecordKind.TOOL_LINK):
        by_ticket.setdefault(tool_link.target, []).append(tool_link)
    text = None
    if settings.text_matching:
        text = text_linker(
            issues, settings.text_auto_threshold, settings.text_suggest_threshold, store
        )
    del issues
    decisions = store.links.decisions()
    counted = suggested = 0

    def write(records: list[Feedback] | list[Deal], links: list[Link]) -> None:
        """A chunk's links, with people's decisions applied, replace its records' links."""
        nonlocal counted, suggested
        kinds = {(r.source, r.id): "deal" if isinstance(r, Deal) else "feedback" for r in records}
        links = apply_decisions(links, decisions, kinds, known_keys)
        invalidation.replace_links(
            store, kinds, links, {(r.source, r.id): record_signature(r) for r in records}
        )
        counted += sum(1 for link in links if link.counts)
        suggested += sum(1 for link in links if not link.counts)

    for chunk in store.records.iter_load(RecordKind.FEEDBACK, size=LINK_CHUNK):
        links: list[Link] = []
        unnamed = []
        for item in chunk:
            found = feedback_links(item, by_ticket.get((item.source, item.id), []), known_keys)
            explicit = {link.issue_key for link in found}
            found += [
                link
                for link in tag_links(item, targets, issues_by_label)
                if link.issue_key not in explicit
            ]
            links.extend(found)
            if not found:
                unnamed.append(item)  # feedback that names an issue needs no guessing
        if text and unnamed:
            links += text(unnamed)
        write(chunk, links)
    for deals in store.records.iter_load(RecordKind.DEAL, size=LINK_CHUNK):
        links = [
            link
            for deal in deals
            for link in deal_links(deal, known_keys, by_ticket.get((deal.source, deal.id), []))
        ]
        write(deals, links)
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
    say (flows.incremental.relink_around). Text matching runs only for the items that name
    no issue. `issues`: the stored issues, when the caller has them. Returns the links that
    count."""
    issues = store.records.load(RecordKind.ISSUE) if issues is None else issues
    known_keys = {issue.key for issue in issues}
    issues_by_label = open_issues_by_label(issues)
    owners = {(r.source, r.id) for r in records} | set(gone)
    by_ticket: dict[tuple[str, str], list[ToolLink]] = {}
    for tool_link in store.records.load(RecordKind.TOOL_LINK):
        if tool_link.target in owners:
            by_ticket.setdefault(tool_link.target, []).append(tool_link)
    links: list[Link] = []
    kinds: dict[tuple[str, str], str] = {}
    unnamed: list[Feedback] = []
    for record in records:
        pair = (record.source, record.id)
        if isinstance(record, Deal):
            kinds[pair] = "deal"
            links.extend(deal_links(record, known_keys, by_ticket.get(pair, [])))
            continue
        kinds[pair] = "feedback"
        found = feedback_links(record, by_ticket.get(pair, []), known_keys)
        explicit = {link.issue_key for link in found}
        found += [
            link
            for link in tag_links(record, settings.tag_targets, issues_by_label)
            if link.issue_key not in explicit
        ]
        links.extend(found)
        if not found:
            unnamed.append(record)
    if settings.text_matching and unnamed:
        links += text_links(
            unnamed, issues, settings.text_auto_threshold, settings.text_suggest_threshold, store
        )
    links = apply_decisions(links, store.links.decisions(), kinds, known_keys)
    invalidation.replace_links(
        store, owners, links, {(r.source, r.id): record_signature(r) for r in records}
    )
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
    """Rejected pairs disappear for good; confirmed pairs link whatever the run found."""
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
    return list(kept.values())


def calculator_for(
    settings: Settings,
    store: Store,
    now: datetime | None = None,
    links: Iterable[Link] | None = None,
    directory: AccountDirectory | None = None,
    deal_owners: list[tuple[str, str, list[str]]] | None = None,
    revenue: dict[str, Decimal] | None = None,
) -> DemandCalculator:
    """The demand calculator over the stored records; given `links`, it holds only what
    the summaries of their issues read: the feedback they name, the deals they name and
    every deal of the customers who asked. `deal_owners` (`store.records.deal_accounts`) and
    `revenue` (`crm_revenue`) are for callers that build many calculators."""
    directory = directory or account_directory(settings, store)
    if links is None:
        feedback = store.records.load(RecordKind.FEEDBACK)
        deals = store.records.load(RecordKind.DEAL)
    else:
        links = list(links)
        named = {(x.source, x.record_id) for x in links if x.kind == "feedback" and x.counts}
        feedback = store.records.load_pairs(RecordKind.FEEDBACK, named)
        asking = {directory.for_feedback(item).key for item in feedback}
        wanted = {(x.source, x.record_id) for x in links if x.kind == "deal" and x.counts}
        wanted |= {
            (source, deal_id)
            for source, deal_id, accounts in (deal_owners or store.records.deal_accounts())
            if any(c.key in asking for c in directory.for_accounts(source, accounts))
        }
        deals = store.records.load_pairs(RecordKind.DEAL, wanted)
    if revenue is None and settings.revenue_from == "crm_field":
        revenue = crm_revenue(settings, store, directory)
    return DemandCalculator(
        feedback,
        deals,
        directory,
        now or datetime.now(UTC),
        settings.revenue_window_days,
        revenue,
    )


def crm_revenue(
    settings: Settings, store: Store, directory: AccountDirectory
) -> dict[str, Decimal]:
    """Each customer's revenue from its CRM accounts' revenue field, each account once."""
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for crm in ("hubspot", "salesforce"):
        for account in store.records.load(RecordKind.ACCOUNT, source=crm):
            if account.revenue is not None:
                for customer in directory.for_accounts(crm, [account.id]):
                    revenue[customer.key] += account.revenue
    return dict(revenue)


def account_directory(settings: Settings, store: Store) -> AccountDirectory:
    """Who the customers are. Matching every account's name with every other's takes most
    of a small sync, so the directory is saved with a fingerprint of what it is built from
    (the accounts' versions, the settings that shape it, the rules) and rebuilt only when
    that changed."""
    manual = read_account_map(Path(settings.account_map)) if settings.account_map else {}
    inputs = [
        ACCOUNT_RULES,
        sorted(settings.free_mail_domains),
        sorted([*pair, label] for pair, label in manual.items()),
        store.records.versions(RecordKind.ACCOUNT),
    ]
    fingerprint = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()
    saved = store.derived.get("account_directory", fingerprint)
    if saved is not None:
        return AccountDirectory.from_json(saved, settings.free_mail_domains)
    directory = AccountDirectory(
        store.records.load(RecordKind.ACCOUNT), settings.free_mail_domains, manual
    )
    store.derived.save("account_directory", fingerprint, directory.as_json())
    return directory


SUMMARY_BATCH = 500


class Summaries(Mapping[str, DemandSummary]):
    """Demand summaries of some issues, computed a batch at a time as they are read in key
    order: a whole store's summaries, and the records behind them, are never in memory
    together. Read out of order, a batch is computed again."""

    def __init__(
        self,
        keys: Iterable[str],
        compute: Callable[[list[str]], dict[str, DemandSummary]],
        batch: int | None = None,
    ) -> None:
        self._keys = sorted(keys)
        self._at = {key: at for at, key in enumerate(self._keys)}
        self._compute = compute
        self._batch = batch or SUMMARY_BATCH
        self._held: dict[str, DemandSummary] = {}

    def __getitem__(self, key: str) -> DemandSummary:
        if key not in self._held:
            at = self._at[key]
            self._held = self._compute(self._keys[at : at + self._batch])
        return self._held[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._at


def demand(
    settings: Settings,
    store: Store,
    now: datetime | None = None,
    among: set[str] | None = None,
    directory: AccountDirectory | None = None,
) -> Summaries:
    """The demand summary of every issue (or of those `among`) that has links that count,
    or had demand published before (it may have fallen to nothing), a batch of issues at
    a time. `directory`: the account directory, when the caller has it."""
    now = now or datetime.now(UTC)
    directory = directory or account_directory(settings, store)
    owners = store.records.deal_accounts()
    revenue = (
        crm_revenue(settings, store, directory) if settings.revenue_from == "crm_field" else None
    )
    keys = (store.links.linked_issue_keys() | store.ledger.keys()) & store.records.issue_keys()
    if among is not None:
        keys &= among

    def compute(batch: list[str]) -> dict[str, DemandSummary]:
        counting = store.links.of_issues(batch, suggested=False)
        calculator = calculator_for(settings, store, now, counting, directory, owners, revenue)
        by_issue: dict[str, list[Link]] = {}
        for link in counting:
            by_issue.setdefault(link.issue_key, []).append(link)
        return {key: calculator.summary(key, by_issue.get(key, [])) for key in batch}

    return Summaries(keys, compute)


def issues_asked_by(store: Store, directory: AccountDirectory, customers: set[str]) -> set[str]:
    """The issues these customers asked for: a deal of theirs moves the revenue and
    pipeline on every one of them. Read from who asked, not from the loaded feedback."""
    return {
        key
        for key, source, record_id, account_id, email, name in store.links.requesters()
        if directory.for_requester(source, record_id, account_id, email, name).key in customers
    }


def movers(changes: list[dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    """The issues whose demand moved most in this run (`PublishReport.changes`), for the
    run's artifact."""
    return sorted(changes, key=lambda m: (-abs(m["requests_change"]), -abs(m["pipeline_change"])))[
        :top
    ]


def run_cycle(
    settings: Settings,
    store: Store,
    full: bool = False,
    step: Step = lambda fn: fn,
    sources: list[str] | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Pull, link, summarise and publish once. `step` wraps each step (as a Prefect task);
    `sources` limits the pull to some of the configured tools; `progress` hears each page
    and step."""
    tell = progress or _unwatched
    unknown = set(sources or ()) - set(settings.sources)
    if unknown:
        raise ConfigError(
            f"not configured: {', '.join(sorted(unknown))} (configured: "
            f"{', '.join(settings.sources) or 'none'})"
        )
    from flows.incremental import demand_step, link_step, reconcile_due, reconciled

    started = time.monotonic()
    started_at = datetime.now(UTC)
    install_budgets(settings)
    result = SyncResult()
    run_id = store.runs.start()
    try:
        for source in sources or settings.sources:
            try:
                pulled = step(pull_source)(settings, store, source, full, progress)
            except ToolFailed as failure:
                tell("failed", source, 0)
                # One tool's failure is that tool's: the others' changes still go out.
                log.error("%s", failure)
                result.failed[source] = str(failure)
                if failure.missing:
                    result.missing[source] = failure.missing
                continue
            result.pulled[source] = pulled.stored
            tell("pulled", source, pulled.stored)
            result.dead_letters += pulled.dead
            result.clamped.update(pulled.clamped)
            if pulled.missing:
                result.missing[source] = pulled.missing
        # One run links and publishes on a store at a time (pulls may overlap: they only
        # upsert): a second sync waits for the first, or stops with who holds the store.
        with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "linking and publishing"):
            everything = reconcile_due(settings, store, full)
            tell("step", "link", 0)
            result.links = step(link_step)(settings, store, everything)
            tell("done", "link", result.links)
            # Issues that failed to pull may be stale or missing: publish after a good pull.
            if settings.jira_url and "jira" not in result.failed:
                pending = store.ledger.pending()
                tell("step", "sum", 0)
                summaries = step(demand_step)(settings, store, everything)
                tell("done", "sum", len(summaries))
                tell("step", "publish", 0)
                # A reconcile also reads the issues back and repairs what people changed.
                report = step(publish_all)(settings, store, summaries, repair=everything)
                result.repaired = report.repaired
                tell("done", "publish", report.written)
                # Pending issues with no demand to show (suggestions only) are done with too.
                store.ledger.clear_pending((pending | set(summaries)) - report.not_written)
                store.ledger.mark_pending(report.not_written)
                result.published = report.counts()
                if report.missing:  # write features Jira refused (quiet_edits)
                    result.missing.setdefault("jira", {}).update(report.missing)
                result.moved = movers(report.changes)
                if settings.close_loop:
                    tell("step", "close-loop", 0)
                    result.notes = step(close_loop)(settings, store)
                    tell("done", "close-loop", result.notes.get("written", 0))
            if everything and not result.failed:  # a reconcile missing a tool stays due
                reconciled(settings, store, started_at)
    except BaseException:
        result.duration_s = time.monotonic() - started
        store.runs.finish(run_id, "failed", result.as_dict())
        raise
    result.duration_s = time.monotonic() - started
    clean = not result.published["failed"] and not result.failed
    store.runs.finish(run_id, "ok" if clean else "partial", result.as_dict())
    return result
