"""Backfills: re-read one tool over a date range, window by window, then relink and
publish once.

Each window reads the records changed in [start, end) with the connector's `since`/`until`
bounds and cursors of its own (streams named `backfill:<id>:<window>:<stream>`), so the
incremental sync's cursors never move. A window ends with a checkpoint (the `backfills`
row's `windows_done`, committed with the removal of the window's cursors), so a killed
backfill run again with the same parameters resumes at its first unfinished window, and a
finished one run again reads and writes nothing (`force` starts it over). The lists read in
full every sync (accounts, tracker links, id sweeps) are read once, in the first window.

`run_backfill` is the plain function (the `pmsync backfill` command runs it with a progress
bar); `backfill` is the Prefect flow of the `backfill` deployment, with a progress artifact.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import flow

from connectors import registry
from connectors.base import Connector, Page
from connectors.settings import Settings
from flows.budgets import install_budgets
from flows.pipeline import refuse_mass_delete
from flows.sync import as_task, settings_for
from models import ConfigError
from services import invalidation
from services.apply import WRITER_LEASE, Step, apply, plain
from services.scope import Scope
from store import Store
from store.leases import exclusive

log = logging.getLogger("pmsync.backfill")

MAX_WINDOWS = 10_000
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_window(text: str) -> timedelta:
    """`7d`, `12h`, `2w`, `30m` as a timedelta."""
    match = WINDOW.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"window {text!r} is not a length like 7d, 12h, 2w or 30m")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def parse_moment(text: str | datetime, name: str = "date") -> datetime:
    """A date (`2026-01-31`, midnight UTC) or an ISO 8601 time; no zone means UTC."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{name} {text!r} is not a date (2026-01-31) or an ISO 8601 time"
            ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def windows(since: datetime, until: datetime, window: timedelta) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into consecutive windows; the last may be shorter."""
    if until <= since:
        raise ConfigError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    count = -(-(until - since) // window)
    if count > MAX_WINDOWS:
        raise ConfigError(
            f"{count} windows of {window} between {since:%Y-%m-%d} and {until:%Y-%m-%d}: "
            f"at most {MAX_WINDOWS}; choose a longer --window"
        )
    return [(since + i * window, min(since + (i + 1) * window, until)) for i in range(count)]


@dataclass(frozen=True)
class Progress:
    """Where a backfill is, after each page and each window."""

    windows_total: int
    windows_done: int
    records: int
    window: tuple[datetime, datetime] | None = None


@dataclass
class BackfillResult:
    id: int | None
    source: str
    since: datetime
    until: datetime
    window: timedelta
    status: str  # done, already done, dry run
    windows_total: int
    windows_done: int
    windows_run: int = 0
    records: int = 0
    dead_letters: int = 0
    links: int | None = None
    published: dict[str, int] | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window_s": int(self.window.total_seconds()),
            "status": self.status,
            "windows_total": self.windows_total,
            "windows_done": self.windows_done,
            "windows_run": self.windows_run,
            "records": self.records,
            "dead_letters": self.dead_letters,
            "links": self.links,
            "published": self.published,
            "windows": self.plan,
            "duration_s": round(self.duration_s, 2),
        }


def cursor_prefix(backfill_id: int, index: int) -> str:
    """The namespace of one window's cursors: never an incremental stream's name."""
    return f"backfill:{backfill_id}:{index}:"


def backfill_window(
    settings: Settings,
    store: Store,
    source: str,
    backfill_id: int,
    index: int,
    bounds: tuple[datetime, datetime],
    on_page: Callable[[int], None] = lambda stored: None,
) -> tuple[int, int]:
    """Read one window into the store, page by page, then checkpoint it.

    Returns (records stored, dead letters)."""
    prefix = cursor_prefix(backfill_id, index)
    connector = registry.vendor(source).connector(settings)
    stored = dead = 0
    pages = connector.pull(
        lambda stream: store.cursors.get(prefix + stream),
        since=bounds[0],
        until=bounds[1],
        listings=index == 0,
    )
    for page in pages:
        if page.complete_ids is not None:
            refuse_mass_delete(settings, store, page)
        save_page(store, page, prefix)
        stored += len(page.records)
        dead += len(page.dead)
        on_page(len(page.records))
    store.runs.finish_window(backfill_id, index, stored, dead, prefix)
    log.info(
        "%s backfill %d: window %d (%s to %s) read %d records, %d dead letters",
        source,
        backfill_id,
        index + 1,
        bounds[0].isoformat(),
        bounds[1].isoformat(),
        stored,
        dead,
    )
    return stored, dead


def save_page(store: Store, page: Page, prefix: str) -> None:
    """A page and its cursor, committed together, the cursor under the window's prefix."""
    stream = prefix + page.stream if page.cursor is not None else None
    invalidation.save_page(
        store,
        page.records,
        page.dead,
        stream,
        page.cursor,
        deleted=(page.source, page.kind, page.deleted_ids),
    )
    store.dead_letters.resolve(page.source, page.kind, (r.id for r in page.records))
    if page.complete_ids is not None:
        invalidation.prune(store, page.source, page.kind, page.complete_ids)


def dry_run_plan(
    connector: Connector, bounds: list[tuple[datetime, datetime]], done: int
) -> list[dict[str, Any]]:
    """Each window, whether it is done, and how many records it would read where the tool
    counts cheaply (one call a window, for the tools whose APIs count)."""
    count = getattr(connector, "count", None)
    # Why a window's count is unknown: the tool's own reason (its API has no count), else
    # a count call that answered nothing.
    unknown = getattr(connector, "no_count", None) or "the tool has no cheap count"
    rows = []
    for index, (start, end) in enumerate(bounds):
        would_read = None if index < done or count is None else count(start, end)
        rows.append(
            {
                "window": index + 1,
                "since": start.isoformat(),
                "until": end.isoformat(),
                "done": index < done,
                "would_read": would_read,
                "why_unknown": unknown if would_read is None and index >= done else None,
            }
        )
    return rows


def run_backfill(
    settings: Settings,
    store: Store,
    source: str,
    since: datetime,
    until: datetime | None = None,
    window: timedelta = timedelta(days=7),
    *,
    dry_run: bool = False,
    force: bool = False,
    relink: bool = True,
    step: Step = plain,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> BackfillResult:
    """Backfill `source` over [since, until) (until: now), `window` at a time; see the
    module's docstring. `relink=False` leaves relinking and publishing to the caller (the
    parts of a backfill split over several workers); `step` wraps each window (as a
    Prefect task)."""
    configured = registry.configured(settings)
    if source not in configured:
        raise ConfigError(
            f"{source} is not configured (configured: {', '.join(configured) or 'none'})"
        )
    started = time.monotonic()
    window_s = int(window.total_seconds())
    found = None if force else store.runs.find_backfill(source, since, until, window_s)
    end = found["until"] if found else until or datetime.now(UTC).replace(microsecond=0)
    bounds = windows(since, end, window)
    done = found["windows_done"] if found else 0
    result = BackfillResult(
        id=found["id"] if found else None,
        source=source,
        since=since,
        until=end,
        window=window,
        status="dry run" if dry_run else "done",
        windows_total=len(bounds),
        windows_done=done,
    )
    install_budgets(settings)
    if dry_run:
        result.plan = dry_run_plan(registry.vendor(source).connector(settings), bounds, done)
        result.duration_s = time.monotonic() - started
        return result
    if found and found["status"] == "done":
        result.status = "already done"
        result.records, result.dead_letters = found["records"], found["dead_letters"]
        return result
    if found is None:
        result.id = store.runs.start_backfill(
            source, since, end, until is None, window_s, len(bounds)
        )
    else:
        store.runs.backfill_status(found["id"], "running")
        result.records, result.dead_letters = found["records"], found["dead_letters"]
        log.info("%s backfill %d resumes at window %d", source, found["id"], done + 1)
    assert result.id is not None
    run_id = store.runs.start()
    on_progress(Progress(len(bounds), done, result.records))
    try:
        for index in range(done, len(bounds)):

            def page_read(stored: int, at: tuple[datetime, datetime] = bounds[index]) -> None:
                result.records += stored
                on_progress(Progress(len(bounds), result.windows_done, result.records, at))

            _, dead = step(backfill_window)(
                settings, store, source, result.id, index, bounds[index], page_read
            )
            result.dead_letters += dead
            result.windows_done = index + 1
            result.windows_run += 1
            on_progress(Progress(len(bounds), result.windows_done, result.records))
        if relink:
            with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "writing"):
                done = apply(store, settings, Scope.everything(), step=step)
            result.links = done.links
            result.published = done.report.counts() if done.report else None
    except BaseException as error:
        store.runs.backfill_status(result.id, "failed", f"{type(error).__name__}: {error}"[:500])
        result.duration_s = time.monotonic() - started
        store.runs.finish(run_id, "failed", {"kind": "backfill", **result.as_dict()})
        raise
    store.runs.backfill_status(result.id, "done")
    result.duration_s = time.monotonic() - started
    stats = {k: v for k, v in result.as_dict().items() if k != "windows"}
    failed = (result.published or {}).get("failed")
    store.runs.finish(run_id, "partial" if failed else "ok", {"kind": "backfill", **stats})
    return result


class ProgressArtifact:
    """The run's progress as a Prefect progress artifact, updated once per window."""

    def __init__(self, source: str) -> None:
        from prefect.artifacts import create_progress_artifact

        artifact_id = create_progress_artifact(
            progress=0.0,
            key=f"backfill-{source}",
            description=f"Windows of the {source} backfill done, in percent",
        )
        assert isinstance(artifact_id, UUID)  # called from sync code: not a coroutine
        self.id = artifact_id
        self.windows_done = -1

    def update(self, progress: Progress) -> None:
        from prefect.artifacts import update_progress_artifact

        if progress.windows_done == self.windows_done or not progress.windows_total:
            return  # a page, not a window: not worth a call to the server
        self.windows_done = progress.windows_done
        percent = 100.0 * progress.windows_done / progress.windows_total
        update_progress_artifact(self.id, progress=percent)


@flow(name="backfill", log_prints=True)
def backfill(
    source: str,
    since: str,
    until: str | None = None,
    window: str = "7d",
    dry_run: bool = False,
    force: bool = False,
    relink: bool = True,
    sandbox_url: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Re-read one tool over [since, until) (dates or ISO times, UTC unless they say;
    until defaults to now), `window` at a time (7d, 12h, ...), each window checkpointed;
    then relink and publish once. The same parameters resume a killed backfill; a finished
    one changes nothing unless `force`. `relink=False` is for the parts of a backfill split
    over several runs: relink and publish once after the last (`pmsync publish`).

    Credentials and the store's URL come from the worker's environment (PMSYNC_*), or the
    sandbox's with `sandbox_url`; a `database_url` parameter with a password is refused
    (Prefect stores parameters)."""
    from prefect.artifacts import create_table_artifact

    settings = settings_for(sandbox_url, database_url)
    store = Store(settings.database_url, upgrade=True)
    artifact = None if dry_run else ProgressArtifact(source)
    result = run_backfill(
        settings,
        store,
        source,
        parse_moment(since, "since"),
        parse_moment(until, "until") if until else None,
        parse_window(window),
        dry_run=dry_run,
        force=force,
        relink=relink,
        step=as_task,
        on_progress=artifact.update if artifact else lambda progress: None,
    )
    summary = result.as_dict()
    rows = summary.pop("windows") or [{k: v for k, v in summary.items() if not isinstance(v, dict)}]
    create_table_artifact(
        rows, key=f"backfill-{source}-summary", description=f"The {source} backfill"
    )
    print(
        f"{source} backfill {result.status}: {result.windows_done}/{result.windows_total} "
        f"windows, {result.records} records, {result.dead_letters} dead letters"
    )
    return result.as_dict()
