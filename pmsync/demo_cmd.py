"""`pmsync demo`: the sandbox, one full sync and the enriched issues."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from models import ConfigError, RecordKind
from models.records import money
from pmsync.common import console, fail, settings_or_exit
from pmsync.sync_cmd import run_sync_flow
from store import Store


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
