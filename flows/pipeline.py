"""One sync cycle as plain functions: pull every source page by page, then link, sum and
publish through services.apply over the sync's scope.

Flows wrap these steps as Prefect tasks; tests call them directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors import registry
from connectors.base import (
    Connector,
    DuplicatePageToken,
    Page,
    clamped_cursor,
    cursor_time,
    failure_reason,
)
from connectors.http import ApiError, AuthError, NotAnAnswer, RetryableError
from connectors.lookup import InvalidRecord, Lookup
from connectors.settings import Settings
from flows.budgets import install_budgets
from flows.prefetch import prefetched
from models import ConfigError, Feedback, Record, RecordKind
from services import invalidation
from services.apply import WRITER_LEASE, Progress, Step, apply, plain, unwatched
from services.incremental import reconcile_due, reconciled
from services.scope import Scope
from store import DeadLetter, Store
from store.leases import exclusive

log = logging.getLogger("pmsync.sync")


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
    # A reconcile's drift repairs (services.drift: part -> issues, and "issues"); None when
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
    connector = registry.vendor(source).connector(settings)
    missing: dict[str, str] = getattr(connector, "missing", {})
    clamped: dict[str, str] = {}
    cursors = cursors_not_ahead(store, source, datetime.now(UTC), clamped)
    try:
        outcome = _pull_pages(
            settings, store, source, full, connector, cursors, progress or unwatched
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
    progress: Progress = unwatched,
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
    if isinstance(error, NotAnAnswer):
        return f"{error}: no answer the API documents; the next run tries again"
    if isinstance(error, RetryableError) and error.status is None:
        vendor = registry.find(tool)
        return f"{error}: unreachable; check {vendor.url_setting if vendor else 'its URL'}"
    if isinstance(error, AuthError):
        return str(error)  # it names the credential settings
    if isinstance(error, RetryableError):
        return f"{tool}: kept failing ({error}); the next run tries again"
    text = str(error)
    return text if text.startswith(f"{tool}:") else f"{tool}: {text}"


# Tools whose account listing has no change-time filter: it is read in full only now and
# then (connectors.base.listing_read), and in between an account that pulled feedback
# names but the store lacks is read by itself, so a new customer counts at once: the
# account kind its lookups name (Vendor.named_accounts), None for the other tools.
def named_accounts_kind(tool: str) -> str | None:
    vendor = registry.find(tool)
    return vendor.named_accounts if vendor else None


def accounts_named(records: Iterable[Record]) -> dict[str, set[str]]:
    """The accounts these records' feedback names, by tool, for the tools above."""
    named: dict[str, set[str]] = {}
    for r in records:
        if isinstance(r, Feedback) and named_accounts_kind(r.source) and r.account_id:
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
        kind = named_accounts_kind(source)
        if kind is None:  # a tool whose accounts are all read with its listing
            continue
        missing = sorted(ids - set(store.records.stored_versions(source, RecordKind.ACCOUNT, ids)))
        if not missing:
            continue
        found: list[Record] = []
        dead: list[DeadLetter] = []
        for account_id in missing:
            try:
                record = lookup.fetch(source, kind, account_id)
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
    step: Step = plain,
    sources: list[str] | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Pull, then link, summarise and publish once (services.apply). `step` wraps each
    step (as a Prefect task); `sources` limits the pull to some of the configured tools;
    `progress` hears each page and step."""
    tell = progress or unwatched
    unknown = set(sources or ()) - set(registry.configured(settings))
    if unknown:
        raise ConfigError(
            f"not configured: {', '.join(sorted(unknown))} (configured: "
            f"{', '.join(registry.configured(settings)) or 'none'})"
        )
    started = time.monotonic()
    started_at = datetime.now(UTC)
    install_budgets(settings)
    result = SyncResult()
    run_id = store.runs.start()
    try:
        for source in sources or registry.configured(settings):
            pull_into(result, settings, store, source, full, step, progress)
        # One run links and publishes on a store at a time (pulls may overlap: they only
        # upsert): a second sync waits for the first, or stops with who holds the store.
        with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "linking and publishing"):
            scope = Scope.sync_run(reconcile_due(settings, store, full))
            # Issues that failed to pull may be stale or missing: publish after a good pull.
            tracker = registry.tracker().name
            publish = tracker not in result.failed
            done = apply(store, settings, scope, publish=publish, step=step, progress=tell)
            result.links = done.links or 0
            if done.report is not None:
                result.repaired = done.report.repaired
                result.published = done.report.counts()
                if done.report.missing:  # write features the tracker refused (quiet_edits)
                    result.missing.setdefault(tracker, {}).update(done.report.missing)
                result.moved = movers(done.report.changes)
                result.notes = done.notes
            if scope.kind == "everything" and not result.failed:
                reconciled(settings, store, started_at)  # one missing a tool stays due
    except BaseException:
        result.duration_s = time.monotonic() - started
        store.runs.finish(run_id, "failed", result.as_dict())
        raise
    result.duration_s = time.monotonic() - started
    clean = not result.published["failed"] and not result.failed
    store.runs.finish(run_id, "ok" if clean else "partial", result.as_dict())
    return result


def pull_into(
    result: SyncResult,
    settings: Settings,
    store: Store,
    source: str,
    full: bool,
    step: Step,
    progress: Progress | None,
) -> None:
    """One tool's pull, told into the run's result; its failure is that tool's alone."""
    tell = progress or unwatched
    try:
        pulled = step(pull_source)(settings, store, source, full, progress)
    except ToolFailed as failure:
        tell("failed", source, 0)
        # One tool's failure is that tool's: the others' changes still go out.
        log.error("%s", failure)
        result.failed[source] = str(failure)
        if failure.missing:
            result.missing[source] = failure.missing
        return
    result.pulled[source] = pulled.stored
    tell("pulled", source, pulled.stored)
    result.dead_letters += pulled.dead
    result.clamped.update(pulled.clamped)
    if pulled.missing:
        result.missing[source] = pulled.missing
