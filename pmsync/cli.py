"""The `pmsync` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models import ConfigError, RecordKind, Settings, load_settings
from models.records import money
from store import Store

app = typer.Typer(
    help="pmsync: customer demand from support tools and CRMs, on the Jira issues it asks for.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
links_app = typer.Typer(
    help="Links between feedback or deals and Jira issues.", no_args_is_help=True
)
app.add_typer(links_app, name="links")
# Piped output (make, CI logs) gets a fixed width instead of rich's 80-column guess.
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


def fail(message: str) -> None:
    # One line however narrow the terminal: rich would wrap it at 80 columns on a pipe.
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def url_option(option: str, example: str) -> Callable[[str | None], str | None]:
    """A typer callback: the option's value is an http(s) URL, or the command stops with
    one line. `sync --sandbox --json` would otherwise read '--json' as the URL."""

    def checked(value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("-"):
            fail(f"{option} needs a URL (e.g. {example}) but got {value!r}: write {option} URL")
        from models.config_checks import http_url

        try:
            return http_url(value, example)
        except ValueError as error:
            fail(f"{option}: {error}")
            raise  # unreachable

    return checked


SandboxOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        metavar="URL",
        callback=url_option("--sandbox", "http://127.0.0.1:8765"),
        help="Point every tool at a running pmsync sandbox with its demo credentials.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def settings_or_exit(sandbox: str | None = None, **overrides: Any) -> Settings:
    try:
        if sandbox:
            return Settings.for_sandbox(sandbox, **overrides)
        return load_settings(**overrides)
    except ConfigError as error:
        fail(str(error))
        raise  # unreachable; keeps type checkers honest


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server's first start migrates a new database: give it time on slow disks.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if os.environ.get("PREFECT_HOME"):
        # Prefect creates its home without parents, then fails to open its database.
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


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


@app.command()
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
    if not settings.sources:
        fail(
            "no tool is configured: set PMSYNC_JIRA_URL and at least one of "
            "PMSYNC_ZENDESK_URL, PMSYNC_INTERCOM_URL, PMSYNC_FRESHDESK_URL, "
            "PMSYNC_HUBSPOT_URL, PMSYNC_SALESFORCE_LOGIN_URL (with their credentials), "
            "or pass --sandbox URL"
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


@app.command()
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
    from flows.pipeline import demand, link_all
    from flows.publish import Publisher, describe, publish_all

    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = Store(settings.database_url, upgrade=True)
    from flows.pipeline import WRITER_LEASE
    from store.leases import LeaseBusy, exclusive

    try:
        settings.require_jira()
        with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "writing"):
            link_all(settings, store)
            summaries = demand(settings, store)
            if issue and issue not in summaries:
                fail(f"{issue} has no demand to publish (no links, or not in the store)")
            report = publish_all(
                settings, store, summaries, dry_run=dry_run, max_writes=max_writes, only=issue
            )
    except (ConfigError, LeaseBusy) as error:
        fail(str(error))
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


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 7,
    scale: Annotated[
        int,
        typer.Option(
            min=1,
            help="Multiply the world: 100 gives ~4,000 issues, "
            "~30,000 feedback items and ~8,000 deals.",
        ),
    ] = 1,
    rate_limits: Annotated[
        str,
        typer.Option(
            help="'real' enforces each vendor's documented limits with its "
            "own headers and 429 bodies; 'off' limits nothing."
        ),
    ] = "off",
    faults: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of API requests that fail: 429s, 5xx, slow answers, dropped connections.",
        ),
    ] = 0.0,
    malformed: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of records served with a broken field (listed at /_sandbox/faults).",
        ),
    ] = 0.0,
    search_lag: Annotated[
        float, typer.Option(min=0.0, help="Seconds before a change shows in search results.")
    ] = 0.0,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            callback=url_option("--webhook-url", "http://127.0.0.1:8766"),
            help="Send every data change as the tool's signed webhook to URL/webhooks/<tool> "
            "(e.g. http://127.0.0.1:8766, where `pmsync webhooks` listens); secrets are "
            "'sandbox' for each tool. Log at /_sandbox/webhooks.",
        ),
    ] = None,
    tenant: Annotated[
        str,
        typer.Option(
            help="Tenant profile: full (every optional feature), minimal (no custom deal "
            "fields, an agent's Zendesk token, no Jira admin, no HubSpot notes scopes), "
            "multi-currency, or messy (nulls, missing objects, odd text).",
        ),
    ] = "full",
) -> None:
    """Serve the bundled sandbox (Jira, Zendesk, Intercom, Freshdesk, HubSpot, Salesforce
    emulators with a seeded world) until interrupted."""
    from sandbox.server import serve
    from sandbox.tenants import TENANTS

    if rate_limits not in ("off", "real"):
        fail("--rate-limits is 'off' or 'real'")
    if tenant not in TENANTS:
        fail(f"--tenant is one of {', '.join(TENANTS)}")
    _port_free(host, port)
    serve(
        host=host,
        port=port,
        seed=seed,
        scale=scale,
        rate_limits=rate_limits,
        faults=faults,
        malformed_rate=malformed,
        search_lag_s=search_lag,
        webhook_url=webhook_url,
        tenant=tenant,
    )


def _port_free(host: str, port: int) -> None:
    """Fail with one line, before the world is generated, when the sandbox cannot listen."""
    import errno
    import socket

    if not 0 <= port <= 65535:
        fail(f"--port {port} is not a port: use 1 to 65535 (0: any free port)")
    # The socket the sandbox opens (sandbox.server._listen), bound and closed at once; its
    # SO_REUSEADDR too, so a port left in TIME_WAIT counts as free, as it is to the sandbox.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except (socket.gaierror, UnicodeError):
            fail(f"--host {host!r} is not an address of this machine (e.g. 127.0.0.1)")
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is in use (another sandbox?): choose another "
                    "with --port, or --port 0 for any free port"
                )
            fail(f"cannot listen on {host}:{port}: {error.strerror} (check --host and --port)")


@app.command("serve")
def serve_deployments() -> None:
    """Run every deployment with its schedule in this process, for a single box: the
    scheduled sync (PMSYNC_SYNC_CRON, every 15 minutes by default), a sync per tool, the
    backfill and the event handler; one line per run as it starts and ends. Runs go to
    PREFECT_API_URL, or else to a local Prefect server kept while serve runs (under
    PREFECT_HOME), which `pmsync sync` and the other commands use too meanwhile."""
    from deployments.local_server import prefect_api
    from flows.logs import prefect_environment
    from pmsync.runtime import sigterm_stops

    _quiet_prefect()
    prefect_environment()
    sigterm_stops()  # until the runner takes SIGTERM over for its graceful stop
    try:
        # The server first: Prefect reads its API's URL when it is imported.
        with prefect_api() as url:
            console.print(f"Flow runs go to {url}", highlight=False)
            from deployments.serve import main

            main()
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass
    console.print("serve stopped")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the sandbox world.")] = 7,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the sandbox running after the sync, to browse it.")
    ] = False,
) -> None:
    """Start the sandbox, run one full sync through Prefect, show the enriched issues."""
    from sandbox.server import start_sandbox

    database = Path(".pmsync/demo.db")
    # The rest of the environment (schedule, note, maps, ...) checked before anything starts.
    settings_or_exit("http://127.0.0.1:1", database_url=f"sqlite:///{database}")
    # A fresh sandbox world needs a fresh store: the database and its write-ahead log.
    for leftover in (database, *(database.with_name(database.name + e) for e in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    database_url = f"sqlite:///{database}"
    from pmsync.runtime import sigterm_stops

    sigterm_stops()
    server = start_sandbox(seed=seed)
    try:
        console.print(f"Sandbox running at {server.url} (seed {seed})")
        from pmsync.runtime import where_runs_go

        console.print(f"Running one full sync: {where_runs_go().detail}", highlight=False)
        os.environ["PMSYNC_DATABASE_URL"] = database_url  # the flow reads it from here
        try:
            result = run_sync_flow(server.url, True)
        except ConfigError as error:  # found mid-run, such as a missing Jira field
            fail(str(error))
        console.print(
            f"Pulled {result['pulled']}; {result['links']} links; "
            f"published {result['published']['written']} issues "
            f"in {result['duration_s']}s"
        )
        top = show_issues(Store(database_url, upgrade=True))
        if top:
            console.print(
                f"\nWhere to look: {server.url}/jira/browse/{top} (the top issue), "
                f"its JSON at {server.url}/jira/rest/api/3/issue/{top}"
            )
        from pmsync.report_cmd import write_html

        report = Path(".pmsync/demo-report.html")
        write_html(settings_or_exit(server.url), Store(database_url, upgrade=True), report)
        console.print(
            f"The backlog ranked by demand, with charts: {report.resolve()} (open it in a "
            f"browser). The other commands read this demo's store with "
            f"PMSYNC_DATABASE_URL={database_url}",
            highlight=False,
        )
        if serve:
            console.print(
                "Sandbox serving until Ctrl-C (user demo@example.com, password/token sandbox)"
            )
            server.wait()
        else:
            console.print("Run `pmsync demo --serve` to keep the sandbox up and browse it.")
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.stop()


def show_issues(store: Store) -> str | None:
    """Print the enriched issues, most demand first; return the top issue's key."""
    ledger = store.ledger.entries()
    issues = {issue.key: issue for issue in store.records.load(RecordKind.ISSUE)}
    rows = sorted(
        ledger.values(),
        key=lambda e: (-e.summary["requests"], -float(e.summary["revenue"]), e.issue_key),
    )
    table = Table(title="Enriched Jira issues, by demand", box=box.SIMPLE_HEAD)
    table.add_column("Key", no_wrap=True, min_width=7)
    table.add_column("Summary", max_width=42, no_wrap=True, overflow="ellipsis")
    for column in ("Requests", "Customers", "Revenue", "Open pipeline"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for entry in rows:
        s = entry.summary
        issue = issues.get(entry.issue_key)
        table.add_row(
            entry.issue_key,
            issue.summary if issue else "",
            str(s["requests"]),
            str(s["customers"]),
            money(Decimal(str(s["revenue"])), s.get("currency")),
            money(Decimal(str(s["open_pipeline"])), s.get("currency")),
        )
    console.print(table)
    return rows[0].issue_key if rows else None


@links_app.command("list")
def links_list(
    as_json: JsonOption = False,
    issue: Annotated[str | None, typer.Option(help="Only links to this issue.")] = None,
    suggested: Annotated[
        bool,
        typer.Option(
            "--suggested",
            help="Only suggestions waiting for a person: who asks, what it is worth, which "
            "issue, most worth deciding first (value x confidence), a page at a time.",
        ),
    ] = False,
    value: Annotated[
        str, typer.Option(help="With --suggested: rank by revenue or customers.")
    ] = "revenue",
    page: Annotated[int, typer.Option(min=1, help="With --suggested: the page.")] = 1,
    per_page: Annotated[int, typer.Option(min=1, help="With --suggested: rows a page.")] = 20,
) -> None:
    """Every link pmsync made (suggestions excluded unless --suggested), with its method
    and confidence."""
    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    if suggested and not issue:
        from pmsync.links_cmd import show_suggestions

        show_suggestions(settings, store, value, page, per_page, as_json)
        return
    links = store.links.all(issue, suggested=suggested)
    if as_json:
        fields = {"source", "record_id", "kind", "issue_key", "method", "confidence"}
        if suggested:
            fields |= {"evidence", "status"}
        print(json.dumps([link.model_dump(include=fields) for link in links]))
        return
    table = Table(title=f"{len(links)} {'suggested ' if suggested else ''}links")
    for column in ("Issue", "Record", "Kind", "Method", "Status", "Confidence", "Evidence"):
        table.add_column(column, overflow="fold")
    for link in links:
        table.add_row(
            link.issue_key,
            f"{link.source}:{link.record_id}",
            link.kind,
            link.method,
            link.status,
            f"{link.confidence:.2f}",
            link.evidence[:80],
        )
    console.print(table)
    if suggested and links:
        console.print(
            "Confirm one with `pmsync links confirm SOURCE:ID KEY`, "
            "or reject it with `pmsync links reject SOURCE:ID KEY`."
        )


def _decide(record: str, issue_key: str, decision: str) -> None:
    source, sep, record_id = record.partition(":")
    if not sep or not source or not record_id:
        fail(f"{record!r} is not SOURCE:ID (for example zendesk:1234 or hubspot:987)")
    store = Store(settings_or_exit().database_url, upgrade=True)
    known = {issue.key for issue in store.records.load(RecordKind.ISSUE)}
    if issue_key not in known:
        fail(f"{issue_key} is not an issue pmsync has pulled (run `pmsync sync` first?)")
    if not any(
        r.id == record_id
        for kind in (RecordKind.FEEDBACK, RecordKind.DEAL)
        for r in store.records.load(kind, source)
    ):
        fail(f"{record} is not a ticket or deal pmsync has pulled")
    store.links.decide(source, record_id, issue_key, decision)
    console.print(
        f"{record} -> {issue_key} {decision}; no later run will change that. "
        "Run `pmsync publish` (or wait for the next sync) to update the ticket."
    )


@links_app.command("confirm")
def links_confirm(
    record: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="e.g. zendesk:1234")],
    issue_key: Annotated[str, typer.Argument(metavar="KEY", help="e.g. ANA-12")],
) -> None:
    """Confirm that a ticket or deal asks for an issue: it counts from now on, always."""
    _decide(record, issue_key, "confirmed")


@links_app.command("reject")
def links_reject(
    record: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="e.g. zendesk:1234")],
    issue_key: Annotated[str, typer.Argument(metavar="KEY", help="e.g. ANA-12")],
) -> None:
    """Reject a link or suggestion: the pair never links, and is never suggested again."""
    _decide(record, issue_key, "rejected")


@app.command()
def explain(
    key: Annotated[str, typer.Argument(help="The Jira issue, e.g. ANA-12.")],
    as_json: JsonOption = False,
) -> None:
    """How the numbers on one issue add up: every request, customer and deal, with the
    method, evidence and confidence of each link."""
    from flows.pipeline import calculator_for
    from linking.explain import explain as explain_issue

    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    issue = next((i for i in store.records.load(RecordKind.ISSUE) if i.key == key.upper()), None)
    if issue is None:
        from linking.references import unknown_issue_keys

        unknown = unknown_issue_keys(
            store.records.load(RecordKind.DEAL), store.records.issue_keys()
        )
        naming = [
            deal
            for typed, deals in unknown.items()
            if typed.upper() == key.upper()
            for deal in deals
        ]
        also = (
            f"; {len(naming)} deals name it in their issue keys field ({', '.join(naming[:5])}), "
            "which links nothing until the issue exists"
            if naming
            else ""
        )
        fail(f"{key} is not an issue pmsync has pulled (run `pmsync sync` first?){also}")
        return
    report = explain_issue(
        calculator_for(settings, store),
        issue,
        store.links.all(key, suggested=False),
        store.links.all(key, suggested=True),
    )
    if as_json:
        print(json.dumps(report))
        return
    console.print(f"[bold]{key}[/bold] {issue.summary} ({issue.status})")
    console.print(report["headline"])
    for name, text in report["adds_up"].items():
        console.print(f"  {name}: {text}", highlight=False)
    table = Table(title="Requests")
    for column in ("Record", "Customer", "Method", "Confidence", "Evidence"):
        table.add_column(column, overflow="fold")
    for r in report["requests"]:
        table.add_row(
            f"{r['source']}:{r['record_id']}",
            r["customer"],
            r["method"],
            f"{r['confidence']:.2f}",
            r["evidence"][:70],
        )
    console.print(table)
    deals = Table(title="Deals that count")
    for column in ("Deal", "Name", "Amount", "Stage", "Counts in", "Why"):
        deals.add_column(column, overflow="fold")
    for d in report["deals"]:
        deals.add_row(
            f"{d['source']}:{d['id']}",
            d["name"],
            d["amount"],
            d["stage"],
            ", ".join(d["counts_in"]),
            "; ".join(d["why"]),
        )
    console.print(deals)
    if report["suggestions"]:
        console.print(
            f"{len(report['suggestions'])} suggestions wait for a person: "
            f"`pmsync links list --suggested --issue {key}`"
        )


def _cursor_time(value: Any) -> datetime | None:
    from connectors.base import cursor_time

    return cursor_time(value)


def _iso(value: datetime | None) -> str | None:
    from pmsync.status import iso

    return iso(value)


def next_scheduled_runs(limit: int = 10) -> dict[str, Any]:
    """The next scheduled flow runs on the Prefect server (PREFECT_API_URL), or a note."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        return {"note": "PREFECT_API_URL is not set: no Prefect server to ask for schedules"}
    import requests

    try:  # fail fast: Prefect's client retries a server that is down for half a minute
        requests.get(f"{api}/health", timeout=5).raise_for_status()
    except requests.RequestException as error:
        return {"error": f"{api}: {type(error).__name__}"}
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    try:
        with get_client(sync_client=True) as client:
            names = {d.id: d.name for d in client.read_deployments()}
            flows = {f.id: f.name for f in client.read_flows()}
            scheduled = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            )
            runs = client.read_flow_runs(
                flow_run_filter=scheduled, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=limit
            )
    except Exception as error:  # the server refuses us, or answers garbage
        return {"error": f"{api}: {type(error).__name__}: {error}"}
    return {
        "next_runs": [
            {
                "deployment": f"{flows.get(run.flow_id, '?')}/{names.get(run.deployment_id, '?')}"
                if run.deployment_id
                else flows.get(run.flow_id, "?"),
                "flow_run": run.name,
                "expected_start": _iso(run.expected_start_time),
            }
            for run in runs
        ]
    }


def _repaired(run: dict[str, Any]) -> bool:
    return (run["stats"] or {}).get("repaired") is not None


def status_report(
    store: Store,
    now: datetime | None = None,
    configured: list[str] | None = None,
    internal: bool = False,
) -> dict[str, Any]:
    """Everything `pmsync status` shows, as one JSON-ready object. `configured`: the
    tools to report on besides those runs pulled; `internal`: pmsync's own `pipeline:*`
    watermarks among the cursors too."""
    from pmsync.runtime import where_runs_go
    from pmsync.status import run_kind, tools_report

    now = now or datetime.now(UTC)
    configured = configured or []
    cursors: dict[str, Any] = {}
    for stream, (value, saved) in sorted(store.cursors.all().items()):
        if stream.startswith("backfill:"):
            continue  # a backfill window's own cursor: the backfills section shows it
        if stream.startswith("pipeline:") and not internal:
            continue  # pmsync's own watermarks (linked, summed...): with --all
        at = _cursor_time(value)
        lag = round((now - at).total_seconds()) if at else None
        cursors[stream] = {
            "value": value,
            "saved_at": _iso(saved),
            "cursor_time": _iso(at),
            # Never negative: a cursor ahead of the clock is a fault, said as such.
            "lag_s": max(0, lag) if lag is not None else None,
            "ahead_of_clock": lag is not None and lag < -300,
        }
    dead: dict[str, int] = {}
    for letter in store.dead_letters.all():
        dead[letter["reason"]] = dead.get(letter["reason"], 0) + 1
    runs = [
        {
            "id": r["id"],
            "kind": run_kind(r["stats"] or {}, configured),
            "started_at": _iso(r["started_at"]),
            "finished_at": _iso(r["finished_at"]),
            "duration_s": (
                round((r["finished_at"] - r["started_at"]).total_seconds(), 1)
                if r["finished_at"] and r["started_at"]
                else None
            ),
            "outcome": r["outcome"],
            "stats": r["stats"],
        }
        for r in store.runs.last()
    ]
    inbox = store.inbox
    backfills = [
        {
            "id": b["id"],
            "source": b["source"],
            "since": _iso(b["since"]),
            "until": _iso(b["until"]),
            "windows": f"{b['windows_done']}/{b['windows_total']}",
            "status": b["status"],
            "records": b["records"],
            "error": b["error"],
        }
        for b in store.runs.backfills(5)
    ]
    from linking.references import unknown_issue_keys

    # The last sync says which tools failed and which optional features are off.
    last_sync: dict[str, Any] = next(
        (r["stats"] for r in runs if "missing" in (r["stats"] or {})), {}
    )
    return {
        "tools": tools_report(store, configured, now),
        "prefect": where_runs_go().as_dict(),
        "cursors": cursors,
        "features_off": last_sync.get("missing", {}),
        "failed_tools": last_sync.get("failed", {}),
        "cursors_clamped": last_sync.get("clamped", {}),
        # The last reconcile's repairs of what people changed of pmsync's writes.
        "drift_repaired": next((r["stats"]["repaired"] for r in runs if _repaired(r)), None),
        "unknown_issue_keys": unknown_issue_keys(
            store.records.load(RecordKind.DEAL), store.records.issue_keys()
        ),
        "records": store.records.count(),
        "dead_letters": dict(sorted(dead.items(), key=lambda item: -item[1])),
        "runs": runs,
        "inbox": {"backlog": inbox.backlog(), "by_status": inbox.counts()},
        "backfills": backfills,
        "schedule": next_scheduled_runs(),
    }


def _lag(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


@app.command()
def status(
    as_json: JsonOption = False,
    everything: Annotated[
        bool, typer.Option("--all", help="pmsync's internal pipeline:* watermarks too.")
    ] = False,
) -> None:
    """Per tool the time since its last successful pull, its newest record's age and its
    last failure (reason, duration); per stream its cursor and lag, stored records, the
    last runs and their outcome, dead letters by reason, the webhook inbox's backlog,
    recent backfills, where flow runs go, and the next scheduled runs when a Prefect
    server is there to ask."""
    settings = settings_or_exit()
    report = status_report(
        Store(settings.database_url, upgrade=True),
        configured=list(settings.sources),
        internal=everything,
    )
    if as_json:
        print(json.dumps(report, default=str))
        return
    tools = Table(title="Tools", box=box.SIMPLE_HEAD)
    for column in ("Tool", "Last pulled", "Newest record", "Last failure"):
        tools.add_column(column, overflow="fold")
    for tool, facts in report["tools"].items():
        failure = facts["last_failure"]
        tools.add_row(
            tool,
            f"{_lag(facts['since_pull_s'])} ago" if facts["last_pulled"] else "never",
            f"{_lag(facts['newest_record_age_s'])} old" if facts["newest_record"] else "-",
            (
                f"{'[dim]' if failure['since_fixed'] else '[red]'}{failure['at']} after "
                f"{failure['duration_s']}s: {failure['reason'][:90]}"
                f"{'[/dim]' if failure['since_fixed'] else '[/red]'}"
                if failure
                else "-"
            ),
        )
    console.print(tools)
    streams = Table(title="Streams", box=box.SIMPLE_HEAD)
    for column in ("Stream", "Cursor at", "Lag", "Saved"):
        streams.add_column(column)
    for stream, cursor in report["cursors"].items():
        streams.add_row(
            stream, cursor["cursor_time"] or "(opaque)", _lag(cursor["lag_s"]), cursor["saved_at"]
        )
    console.print(streams)
    runs = Table(title="Last runs", box=box.SIMPLE_HEAD)
    for column in ("Run", "Kind", "Started", "Took", "Outcome", "Pulled / read"):
        runs.add_column(column)
    for run in report["runs"]:
        stats = run["stats"] or {}
        read = stats.get("pulled", stats.get("records", ""))
        took = "-" if run["duration_s"] is None else f"{run['duration_s']}s"
        runs.add_row(
            str(run["id"]), run["kind"], run["started_at"], took, run["outcome"], str(read)
        )
    console.print(runs)
    console.print(f"Flow runs: {report['prefect']['detail']}", highlight=False)
    for tool, features in report["features_off"].items():
        for feature, reason in features.items():
            console.print(f"[yellow]{tool}: {feature} is off[/yellow]: {reason}", highlight=False)
    for tool, reason in report["failed_tools"].items():
        console.print(f"[red]{tool} failed in the last sync[/red]: {reason}", highlight=False)
    for stream, why in report["cursors_clamped"].items():
        console.print(f"[yellow]{stream}[/yellow]: {why}", highlight=False)
    for stream, cursor in report["cursors"].items():
        if cursor["ahead_of_clock"]:
            console.print(
                f"[yellow]{stream}[/yellow]: cursor {cursor['cursor_time']} is ahead of the "
                "clock; the next sync reads from the newest stored change",
                highlight=False,
            )
    for typed, deals in report["unknown_issue_keys"].items():
        console.print(
            f"[yellow]{typed!r} names no issue[/yellow] (in the issue keys of "
            f"{', '.join(deals[:5])}{' ...' if len(deals) > 5 else ''})",
            highlight=False,
        )
    dead = report["dead_letters"]
    console.print(f"Dead letters: {sum(dead.values())}", highlight=False)
    for reason, count in dead.items():
        console.print(f"  {count:>4}  {reason[:110]}", highlight=False)
    inbox = report["inbox"]
    console.print(f"Inbox backlog: {inbox['backlog']} ({inbox['by_status']})", highlight=False)
    for backfill in report["backfills"]:
        console.print(
            f"Backfill {backfill['id']} {backfill['source']} {backfill['since']} to "
            f"{backfill['until']}: {backfill['windows']} windows, {backfill['status']}",
            highlight=False,
        )
    schedule = report["schedule"]
    if "next_runs" in schedule:
        console.print("Next scheduled runs:")
        for run in schedule["next_runs"]:
            console.print(f"  {run['expected_start']}  {run['deployment']}", highlight=False)
    else:
        console.print(schedule.get("note") or schedule.get("error"), highlight=False)


@app.command()
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


deadletters_app = typer.Typer(
    help="Records that failed validation: list, show, replay, refetch.", no_args_is_help=True
)
app.add_typer(deadletters_app, name="deadletters")
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", metavar="R", help="Only letters whose reason contains R."),
]


@deadletters_app.command("list")
def deadletters_list(
    reason: ReasonOption = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Resolved letters too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Unresolved dead letters (the raw payloads are in `show ID`)."""
    store = Store(settings_or_exit().database_url, upgrade=True)
    letters = [
        {
            "id": d["id"],
            "source": d["source"],
            "kind": d["kind"],
            "record_id": d["record_id"],
            "reason": d["reason"],
            "created_at": _iso(d["created_at"]),
            "resolved": d["resolved"],
        }
        for d in store.dead_letters.all(include_resolved=include_resolved)
        if reason is None or reason.lower() in d["reason"].lower()
    ]
    if as_json:
        print(json.dumps(letters))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("Id", "Record", "Kind", "Reason", "Since"):
        table.add_column(column, overflow="fold")
    for d in letters:
        table.add_row(
            str(d["id"]),
            f"{d['source']}:{d['record_id']}",
            d["kind"],
            d["reason"][:90],
            d["created_at"] or "",
        )
    console.print(table)


@deadletters_app.command("show")
def deadletters_show(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="The letter's id (see list).")],
) -> None:
    """One dead letter with its raw payload, as JSON (`_context` is pmsync's: what the
    record's builder read besides the record)."""
    letter = Store(settings_or_exit().database_url, upgrade=True).dead_letters.get(letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id} (see `pmsync deadletters list --all`)")
        return
    letter["created_at"] = _iso(letter["created_at"])
    print(json.dumps(letter, indent=2, default=str))


@deadletters_app.command("replay")
def deadletters_replay(
    reason: ReasonOption = None,
    ids: Annotated[
        list[int] | None, typer.Option("--id", metavar="ID", help="Only this letter (repeatable).")
    ] = None,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the stored raw records with pmsync's current code and configuration: those
    that now validate go into the store (their letters resolved), the others stay with the
    reason they fail now; then relink and publish once."""
    from flows.replay import replay_dead_letters

    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = Store(settings.database_url, upgrade=True)
    try:
        report = replay_dead_letters(settings, store, reason, ids)
    except ConfigError as error:
        fail(str(error))
        return
    headline = (
        f"{len(report.moved)} records stored, {len(report.superseded)} already newer in the "
        f"store, {len(report.still_bad)} still fail"
    )
    _show_letters_done(report, headline, as_json)


@deadletters_app.command("refetch")
def deadletters_refetch(
    reason: ReasonOption = None,
    ids: Annotated[
        list[int] | None, typer.Option("--id", metavar="ID", help="Only this letter (repeatable).")
    ] = None,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read the dead-lettered records again from their tools (once fixed there): those the
    tool now serves valid go into the store (their letters resolved), those it no longer
    has resolve their letters, the others stay with the reason they fail now; then relink
    and publish once."""
    from flows.refetch import refetch_dead_letters

    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = Store(settings.database_url, upgrade=True)
    try:
        report = refetch_dead_letters(settings, store, reason, ids)
    except ConfigError as error:
        fail(str(error))
        return
    headline = (
        f"{len(report.fixed)} records stored, {len(report.gone)} gone from their tool, "
        f"{len(report.still_bad)} still fail"
    )
    _show_letters_done(report, headline, as_json)


def _show_letters_done(report: Any, headline: str, as_json: bool) -> None:
    """What a replay or refetch did: the JSON, or the headline, the letters still failing
    and what was relinked and published."""
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    console.print(headline, highlight=False)
    for letter_id, why in report.still_bad.items():
        console.print(f"  {letter_id}: {why[:110]}", highlight=False)
    if report.published is not None:
        console.print(f"relinked ({report.links} links), published {report.published}")


@app.command()
def check(sandbox: SandboxOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration and reach every configured tool with one cheap call,
    the store (connection, schema revision) and the Prefect API when PREFECT_API_URL is
    set. Says exactly what is wrong; exits 1 when anything is."""
    from flows.check import configuration_failure, run_checks

    try:
        settings = Settings.for_sandbox(sandbox) if sandbox else load_settings()
    except ConfigError as error:
        results = [configuration_failure(error)]
    else:
        results = run_checks(settings)
    ok = all(result.ok for result in results)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [result.as_dict() for result in results]}))
    else:
        table = Table(title="pmsync check", box=box.SIMPLE_HEAD)
        for column in ("Check", "Result", "Detail"):
            table.add_column(column, overflow="fold")
        for result in results:
            mark = "[green]ok[/green]" if result.ok else "[red]fail[/red]"
            if result.missing:
                mark = "[yellow]off[/yellow]"
            table.add_row(result.name, mark, result.detail)
        console.print(table)
    if not ok:
        raise typer.Exit(1)


import pmsync.eval_cmd  # noqa: E402, F401  (registers `pmsync eval` on app)
import pmsync.eval_themes_cmd  # noqa: E402, F401  (registers `pmsync eval themes`)
import pmsync.links_cmd  # noqa: E402, F401  (registers `pmsync links review/export/apply`)
import pmsync.report_cmd  # noqa: E402, F401  (registers `pmsync report` on app)
import pmsync.webhooks_cmd  # noqa: E402, F401  (registers `pmsync webhooks` on app)
from pmsync.db_cmd import db_app  # noqa: E402

app.add_typer(db_app, name="db")
