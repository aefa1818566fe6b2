"""The `pmsync` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from models import ConfigError, Settings, load_settings
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

SandboxOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        metavar="URL",
        help="Point every tool at a running pmsync sandbox with its demo credentials.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


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


def run_sync_flow(sandbox: str | None, full: bool, database_url: str | None) -> dict[str, Any]:
    """One cycle through Prefect (a temporary local server unless PREFECT_API_URL is set)."""
    _quiet_prefect()
    from flows.sync import sync

    return sync(sandbox_url=sandbox, full=full, database_url=database_url)


@app.command()
def sync(
    sandbox: SandboxOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything, ignoring cursors.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run one sync cycle: pull every configured tool, link, publish demand to Jira."""
    settings = settings_or_exit(sandbox)
    logging.basicConfig(
        level=logging.WARNING if as_json else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = run_sync_flow(sandbox, full, settings.database_url if sandbox else None)
    except ConfigError as error:
        fail(str(error))
    if as_json:
        print(json.dumps(result))
        return
    console.print(
        f"pulled {result['pulled']}, {result['links']} links, "
        f"{result['dead_letters']} dead letters, published {result['published']} "
        f"in {result['duration_s']}s"
    )


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
    store = Store(settings.database_url)
    try:
        settings.require_jira()
        link_all(settings, store)
        summaries = demand(settings, store)
        if issue and issue not in summaries:
            fail(f"{issue} has no demand to publish (no links, or not in the store)")
        report = publish_all(
            settings, store, summaries, dry_run=dry_run, max_writes=max_writes, only=issue
        )
    except ConfigError as error:
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
) -> None:
    """Serve the bundled sandbox (Jira, Zendesk, Intercom, Freshdesk, HubSpot, Salesforce
    emulators with a seeded world) until interrupted."""
    from sandbox.server import serve

    if rate_limits not in ("off", "real"):
        fail("--rate-limits is 'off' or 'real'")
    serve(
        host=host,
        port=port,
        seed=seed,
        scale=scale,
        rate_limits=rate_limits,
        faults=faults,
        malformed_rate=malformed,
        search_lag_s=search_lag,
    )


@app.command("serve")
def serve_deployments() -> None:
    """Run every deployment with its schedule in this process, for a single box: the
    scheduled sync (PMSYNC_SYNC_CRON, every 15 minutes by default), a sync per tool, the
    backfill and the event handler. Needs a Prefect server (PREFECT_API_URL)."""
    _quiet_prefect()
    from deployments.serve import main

    try:
        main()
    except ConfigError as error:
        fail(str(error))


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
    database.unlink(missing_ok=True)  # a fresh sandbox world needs a fresh store
    database_url = f"sqlite:///{database}"
    server = start_sandbox(seed=seed)
    try:
        console.print(f"Sandbox running at {server.url} (seed {seed})")
        console.print("Running one sync through Prefect (the first start takes a few seconds)")
        result = run_sync_flow(server.url, True, database_url)
        console.print(
            f"Pulled {result['pulled']}; {result['links']} links; "
            f"published {result['published']['written']} issues "
            f"in {result['duration_s']}s"
        )
        top = show_issues(Store(database_url))
        if top:
            console.print(
                f"\nWhere to look: {server.url}/jira/browse/{top} (the top issue), "
                f"its JSON at {server.url}/jira/rest/api/3/issue/{top}"
            )
        if serve:
            console.print(
                "Sandbox serving until Ctrl-C (user demo@example.com, password/token sandbox)"
            )
            server.wait()
        else:
            console.print("Run `pmsync demo --serve` to keep the sandbox up and browse it.")
    finally:
        server.stop()


def show_issues(store: Store) -> str | None:
    """Print the enriched issues, most demand first; return the top issue's key."""
    ledger = store.ledger()
    issues = {issue.key: issue for issue in store.load("issue")}
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
            money(Decimal(str(s["revenue"]))),
            money(Decimal(str(s["open_pipeline"]))),
        )
    console.print(table)
    return rows[0].issue_key if rows else None


@links_app.command("list")
def links_list(
    as_json: JsonOption = False,
    issue: Annotated[str | None, typer.Option(help="Only links to this issue.")] = None,
    suggested: Annotated[
        bool,
        typer.Option("--suggested", help="Only suggestions: text matches waiting for a person."),
    ] = False,
) -> None:
    """Every link pmsync made (suggestions excluded unless --suggested), with its method
    and confidence."""
    store = Store(settings_or_exit().database_url)
    links = store.links(issue, suggested=suggested)
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
    store = Store(settings_or_exit().database_url)
    known = {issue.key for issue in store.load("issue")}
    if issue_key not in known:
        fail(f"{issue_key} is not an issue pmsync has pulled (run `pmsync sync` first?)")
    if not any(
        r.id == record_id for kind in ("feedback", "deal") for r in store.load(kind, source)
    ):
        fail(f"{record} is not a ticket or deal pmsync has pulled")
    store.decide(source, record_id, issue_key, decision)
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
    store = Store(settings.database_url)
    issue = next((i for i in store.load("issue") if i.key == key), None)
    if issue is None:
        fail(f"{key} is not an issue pmsync has pulled (run `pmsync sync` first?)")
        return
    report = explain_issue(
        calculator_for(settings, store),
        issue,
        store.links(key, suggested=False),
        store.links(key, suggested=True),
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


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Cursors, record counts, dead letters and the last runs."""
    store = Store(settings_or_exit().database_url)
    cursors = {
        stream: {"value": value, "saved_at": saved.isoformat()}
        for stream, (value, saved) in store.cursors().items()
    }
    dead: dict[str, int] = {}
    for letter in store.dead_letters():
        dead[letter["reason"]] = dead.get(letter["reason"], 0) + 1
    runs = [
        {
            "id": r["id"],
            "started_at": r["started_at"].isoformat(),
            "outcome": r["outcome"],
            "stats": r["stats"],
        }
        for r in store.last_runs()
    ]
    report = {
        "cursors": cursors,
        "records": store.count_records(),
        "dead_letters": dead,
        "runs": runs,
    }
    if as_json:
        print(json.dumps(report))
        return
    console.print_json(json.dumps(report))


import pmsync.eval_cmd  # noqa: E402, F401  (registers `pmsync eval` on app)
import pmsync.webhooks_cmd  # noqa: E402, F401  (registers `pmsync webhooks` on app)
