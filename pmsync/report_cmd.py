"""`pmsync report`: the backlog ranked by customer demand, from the store."""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from connectors.settings import Settings
from linking.report import SEGMENTS, SORTS, Filters, Report, build_report
from models import RecordKind
from models.records import money
from pmsync.common import console, err, fail, settings_or_exit
from store import Store

CSV_COLUMNS = (
    "rank",
    "key",
    "summary",
    "project",
    "status",
    "requests",
    "weighted_requests",
    "customers",
    "revenue",
    "open_pipeline",
    "weighted_pipeline",
    "named_pipeline",
    "other_pipeline",
    "requests_last_30d",
    "requests_prior_30d",
    "trend",
    "currency",
    "url",
)


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`30d`, `12w`, `6m` (30-day months) back from now, or an ISO date."""
    if not value:
        return None
    relative = re.fullmatch(r"(\d+)([dwm])", value.strip())
    if relative:
        days = int(relative[1]) * {"d": 1, "w": 7, "m": 30}[relative[2]]
        return now - timedelta(days=days)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not 30d, 12w, 6m or a date like 2026-01-31"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    """Which report: the issues and requests it keeps, its order, how many rows, and the
    moment it is made ("since 30d" and the trend count back from it)."""

    filters: Filters = field(default_factory=Filters)
    sort: str = "requests"
    top: int | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def described(self) -> str:
        said = [f"sorted by {self.sort}"]
        if self.filters.project:
            said.append(f"project {self.filters.project}")
        if self.filters.status:
            said.append(f"status {self.filters.status}")
        if self.filters.segment:
            said.append(f"{self.filters.segment} customers")
        if self.filters.since:
            said.append(f"requests since {self.filters.since:%Y-%m-%d}")
        return ", ".join(said)


def gather(settings: Settings, store: Store, query: Query | None = None) -> Report:
    """The report over the store, with the calculator the publish uses: unfiltered, each
    row's numbers are the ones on the ticket."""
    from services.demand import account_directory, calculator_for, issues_with_demand

    query = query or Query()
    directory = account_directory(settings, store)
    keys = issues_with_demand(store)
    counting = store.links.of_issues(keys, suggested=False)
    calculator = calculator_for(settings, store, query.now, counting, directory)
    by_issue: dict[str, list[Any]] = {key: [] for key in keys}
    for link in counting:
        by_issue[link.issue_key].append(link)
    issues = {issue.key: issue for issue in store.records.load(RecordKind.ISSUE)}
    return build_report(calculator, issues, by_issue, query.filters, query.sort, query.top)


def write_html(settings: Settings, store: Store, path: Path, query: Query | None = None) -> Report:
    """The report as one self-contained HTML page at `path` (the demo writes one too)."""
    from pmsync.report_html import render
    from pmsync.themes_cmd import themes_of

    query = query or Query()
    result = gather(settings, store, query)
    page = render(
        result,
        store.ledger.demand_history([r.key for r in result.rows[:5]]),
        generated=query.now,
        described=query.described(),
        themes=themes_of(settings, store),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return result


def write_csv(report: Report, out: Any) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for rank, row in enumerate(report.rows, 1):
        writer.writerow({"rank": rank, **row.as_json()})


def report_json(report: Report, described: str, generated: datetime) -> dict[str, Any]:
    return {
        "generated_at": generated.isoformat(),
        "described": described,
        "currency": report.currency,
        "issues": [{"rank": i, **r.as_json()} for i, r in enumerate(report.rows, 1)],
        "customers": [
            {
                "account": c.key,
                "name": c.name,
                "issues": c.issues,
                "requests": c.requests,
                "revenue": str(c.revenue),
            }
            for c in report.customers
        ],
    }


def print_table(report: Report, described: str) -> None:
    if not report.rows:
        console.print(f"No issue has demand ({described}). A new store fills with `pmsync sync`.")
        return
    table = Table(title=f"Backlog by demand ({described})", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right", min_width=3)
    table.add_column("Key", no_wrap=True, min_width=7)
    table.add_column("Summary", max_width=26, no_wrap=True, overflow="ellipsis")
    table.add_column("Status", max_width=12, no_wrap=True, overflow="ellipsis")
    # Weighted: the requests each counted as its importance, 1 to 3 (--sort importance).
    for column in ("Requests", "Weighted", "Customers", "Revenue", "Pipeline", "Named", "Trend"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for rank, row in enumerate(report.rows, 1):
        d = row.demand
        table.add_row(
            str(rank),
            row.key,
            row.summary,
            row.status,
            str(d.requests),
            str(d.weighted_requests),
            str(d.customers),
            money(d.revenue, d.currency),
            money(d.open_pipeline, d.currency),
            money(row.named_pipeline, d.currency),
            f"{row.trend:+d}",
        )
    console.print(table)


def report(
    sort: Annotated[
        str, typer.Option(help=f"Rank by one of: {', '.join(SORTS)}.", metavar="BY")
    ] = "requests",
    project: Annotated[str | None, typer.Option(help="Only this Jira project.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only issues in this status, or status category (new, done, ...)."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Count only customers in this revenue band: "
            + ", ".join(
                f"{name} ({low:,.0f}{'+' if high is None else f'-{high:,.0f}'})"
                for name, (low, high) in SEGMENTS.items()
            )
            + "."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Count only requests made since: 30d, 12w, 6m or a date."),
    ] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Show the top N issues only.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write a self-contained HTML page with charts."),
    ] = None,
    unlinked: Annotated[
        bool,
        typer.Option("--unlinked", help="List the themes of requests that link to no issue."),
    ] = False,
) -> None:
    """The backlog ranked by customer demand: the numbers on each ticket, from the store."""
    if sort not in SORTS:
        fail(f"--sort is one of {', '.join(SORTS)}")
    if segment is not None and segment not in SEGMENTS:
        fail(f"--segment is one of {', '.join(SEGMENTS)}")
    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    now = datetime.now(UTC)
    query = Query(Filters(project, status, segment, parse_since(since, now)), sort, top, now)
    described = query.described()
    if unlinked:
        from pmsync.themes_cmd import show_themes

        show_themes(settings, store, as_json=as_json, as_csv=as_csv)
        return
    started = time.monotonic()
    if html is not None:
        written = write_html(settings, store, html, query)
        err.print(f"Wrote {html} ({len(written.rows)} issues) in {time.monotonic() - started:.2f}s")
        return
    result = gather(settings, store, query)
    if as_json:
        print(json.dumps(report_json(result, described, now)))
    elif as_csv:
        write_csv(result, sys.stdout)
    else:
        print_table(result, described)
