"""`pmsync sync`, `publish` and `backfill`: the commands that pull, link and publish."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer
from rich.table import Table

from connectors import registry
from models import ConfigError
from pmsync.common import JsonOption, SandboxOption, console, err, fail, settings_or_exit
from store import Store


def _without_config_errors(record: logging.LogRecord) -> bool:
    """Drop Prefect's reports (with tracebacks) of a run stopped by a ConfigError: the
    command prints the ConfigError's own line, which says what to fix."""
    if record.exc_info and isinstance(record.exc_info[1], ConfigError):
        return False
    return "ConfigError" not in record.getMessage()


def run_sync_flow(
    sandbox: str | None, full: bool, allow_mass_delete: bool = False
) -> dict[str, Any]:
    """One cycle: through Prefect when PREFECT_API_URL is set or `pmsync serve` keeps a
    local server, else in this process without Prefect (pmsync.runtime)."""
    from pmsync.runtime import run_sync

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_without_config_errors)
    return run_sync(sandbox, full, allow_mass_delete)[0]


def sync(
    sandbox: SandboxOption = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Re-read everything, ignoring cursors, and reconcile: relink every record "
            "and sum every issue.",
        ),
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Let a full listing delete more than PMSYNC_MAX_DELETE_SHARE (10%) of "
            "what is stored, when a tool really lost that much.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run one sync cycle: pull every configured tool, link, publish demand to Jira.

    Incremental: only records changed since the last sync are relinked, and only the
    issues they move are published. Every PMSYNC_RECONCILE_HOURS (and on --full) the sync
    reconciles instead: every record relinked, every issue summed."""
    settings = settings_or_exit(sandbox)  # bad configuration fails here, before any request
    if not registry.configured(settings):
        tracker = registry.tracker()
        others = ", ".join(v.url_setting for v in registry.vendors() if v is not tracker)
        fail(
            f"no tool is configured: set {tracker.url_setting} and at least one of "
            f"{others} (with their credentials), or pass --sandbox URL"
        )
    from flows.local import progress_to
    from flows.logs import configure
    from pmsync.progress import cycle_progress
    from pmsync.runtime import sigterm_stops
    from store.leases import LeaseBusy

    configure(logging.WARNING if as_json else logging.INFO)
    sigterm_stops()
    try:
        # Per-tool progress on a terminal; nothing with --json or when piped.
        with cycle_progress(err, enabled=not as_json) as listener, progress_to(listener):
            result = run_sync_flow(sandbox, full, allow_mass_delete)
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        # Each stored page went in with its cursor; the page being stored was rolled back.
        err.print(
            "[yellow]stopped[/yellow]: the pages stored so far are kept with their cursors; "
            "the next sync goes on from there"
        )
        raise typer.Exit(130) from None
    except LeaseBusy as error:
        err.print(f"[red]stopped:[/red] {error}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"pulled {result['pulled']}, {result['links']} links, "
            f"{result['dead_letters']} dead letters, published {result['published']} "
            f"in {result['duration_s']}s"
        )
        for tool, features in result.get("missing", {}).items():
            for feature, reason in features.items():
                console.print(f"[yellow]{tool}: {feature} is off[/yellow]: {reason}")
        notes = result.get("notes") or {}
        if notes.get("pending"):
            console.print(
                f"[yellow]{notes['pending']} closing-the-loop notes pending[/yellow] "
                f"({notes.get('failed', 0)} failed this run; the next runs try again, "
                "see the log for why)"
            )
    failed = result.get("failed", {})
    if failed:
        for tool, reason in failed.items():
            err.print(f"[red]failed[/red] {tool}: {reason}")
        err.print(
            f"partially failed: {len(failed)} of {len(failed) + len(result['pulled'])} tools; "
            "the others' changes were published"
        )
        raise typer.Exit(1)


def publish(
    sandbox: SandboxOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
    issue: Annotated[str | None, typer.Option(help="Only this issue (a key like ANA-12).")] = None,
    max_writes: Annotated[
        int | None,
        typer.Option(
            "--max-writes", min=0, help="Write at most N issues; the rest wait for the next run."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish demand from the store to Jira without pulling: relink, summarise, write
    what changed. With --dry-run, print per issue the difference a write would make."""
    from services.apply import WRITER_LEASE, apply
    from services.publish import Publisher, describe
    from services.scope import Scope

    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = Store(settings.database_url, upgrade=True)
    from store.leases import LeaseBusy, exclusive

    tracker = registry.tracker()
    if not tracker.configured(settings):
        fail(
            f"{tracker.shown_as} is not configured: set {tracker.url_setting} and its "
            "credentials (or run against the sandbox with --sandbox URL)"
        )
    try:
        with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "writing"):
            done = apply(
                store,
                settings,
                Scope.everything(),
                dry_run=dry_run,
                max_writes=max_writes,
                only=issue,
            )
    except (ConfigError, LeaseBusy) as error:
        fail(str(error))
    report = done.report
    assert report is not None  # the tracker is configured
    if as_json:
        print(
            json.dumps(
                {
                    **report.counts(),
                    "deferred": report.deferred,
                    "pending": [p.key for p in report.plans] if dry_run else [],
                }
            )
        )
        return
    if dry_run:
        publisher = Publisher(settings, store)
        for plan in report.plans:
            console.print("\n".join(describe(plan, publisher)), highlight=False)
        console.print(
            f"dry run: {len(report.plans)} issues would be written, "
            f"{report.unchanged} unchanged; nothing was written"
        )
        return
    console.print(
        f"written {report.written}, unchanged {report.unchanged}, failed {report.failed}"
        + (f", deferred to the next run {report.deferred}" if report.deferred else "")
    )


def backfill(
    source: Annotated[
        str, typer.Option("--source", metavar="NAME", help="The tool to re-read (jira, ...).")
    ],
    since: Annotated[
        str,
        typer.Option(
            "--since", metavar="DATE", help="Start: 2026-01-31 or an ISO time (UTC unless it says)."
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="End, exclusive (default: now)."),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="Length of each window: 7d, 12h, 2w, 30m.")
    ] = "7d",
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show the windows and what they would read; write nothing."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Redo a backfill that already finished.")
    ] = False,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-read one tool over a date range, window by window, then relink and publish
    once. Each window is checkpointed: run the same command again to resume a backfill
    that was stopped; a finished one changes nothing (unless --force). The incremental
    sync's cursors never move. Runs in this process; the `backfill` deployment runs the
    same on a Prefect worker."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from flows.backfill import parse_moment, parse_window, run_backfill

    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        start = parse_moment(since, "--since")
        end = parse_moment(until, "--until") if until else None
        length = parse_window(window)
        store = Store(settings.database_url, upgrade=True)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[records]} records"),
            console=err,
            disable=as_json or dry_run,
        )
        with bar:
            task = bar.add_task(f"{source} windows", total=None, records=0)

            def show(progress: Any) -> None:
                bar.update(
                    task,
                    total=progress.windows_total,
                    completed=progress.windows_done,
                    records=progress.records,
                )

            result = run_backfill(
                settings,
                store,
                source,
                start,
                end,
                length,
                dry_run=dry_run,
                force=force,
                on_progress=show,
            )
    except ConfigError as error:
        fail(str(error))
        return
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    if dry_run:
        table = Table(title=f"{source} backfill: {result.windows_total} windows (dry run)")
        for column in ("Window", "From", "Until", "State", "Would read"):
            table.add_column(column)
        for row in result.plan:
            count = "?" if row["would_read"] is None else str(row["would_read"])
            table.add_row(
                str(row["window"]),
                row["since"],
                row["until"],
                "done" if row["done"] else "to do",
                "-" if row["done"] else count,
            )
        console.print(table)
        known = [row["would_read"] for row in result.plan if not row["done"]]
        if known and None not in known:
            console.print(f"Would read about {sum(known)} records in all.", highlight=False)
        for why in sorted({row["why_unknown"] for row in result.plan if row["why_unknown"]}):
            console.print(f"'?': {why}.", highlight=False)
        console.print("Nothing was written.")
        return
    if result.status == "already done":
        console.print(
            f"{source} backfill {result.id} over this range already finished "
            f"({result.records} records); nothing to do. --force redoes it."
        )
        return
    console.print(
        f"{source} backfill {result.id}: {result.windows_done}/{result.windows_total} windows "
        f"({result.windows_run} this run), {result.records} records, "
        f"{result.dead_letters} dead letters; {result.links} links, "
        f"published {result.published} in {result.duration_s:.1f}s",
        highlight=False,
    )
