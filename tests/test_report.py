"""What a product manager ranks the backlog by: `pmsync report` shows the numbers on the
tickets, narrows them by segment, window, project and status, and writes one page that
needs no network."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from linking.report import SEGMENTS, SORTS, Filters
from pmsync.cli import app
from pmsync.report_cmd import Query, gather, parse_since
from store import Store
from tests.jira_view import issue_numbers
from tests.oracle import expected_demand


@pytest.fixture
def synced(settings: Settings, store: Store) -> Store:
    run_cycle(settings, store)
    return store


def cli(store_url: str, *args: str) -> str:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["report", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_row_shows_the_numbers_on_its_ticket(
    settings: Settings, synced: Store, sandbox_url: str
) -> None:
    """The report lists exactly the issues with demand, each with the oracle's numbers and
    the ones Jira shows on the ticket."""
    report = gather(settings, synced)
    want = expected_demand(sandbox_url)
    assert {r.key for r in report.rows} == set(want)
    for row in report.rows:
        d, shown = row.demand, issue_numbers(sandbox_url, row.key)
        assert d.requests == want[row.key]["requests"] == shown["requests"], row.key
        assert d.customers == want[row.key]["customers"], row.key
        assert d.revenue == want[row.key]["revenue"] == Decimal(str(shown["revenue"])), row.key
        assert d.open_pipeline == want[row.key]["open_pipeline"], row.key
        assert d.named_pipeline == want[row.key]["named_pipeline"], row.key
        assert d.named_pipeline == Decimal(str(shown["open_pipeline"])), row.key  # the field
        # The pipeline splits into deals naming the issue and the customers' other deals;
        # an issue nobody asked for has only the deals that name it.
        assert row.named_pipeline + row.other_pipeline == d.open_pipeline, row.key
        assert 0 <= row.named_pipeline <= d.open_pipeline, row.key
        if not d.requests:
            assert row.other_pipeline == 0, row.key


@pytest.mark.parametrize("sort", SORTS)
def test_each_sort_ranks_by_its_number(settings: Settings, synced: Store, sort: str) -> None:
    """Rows come in descending order of the chosen number."""
    rows = gather(settings, synced, Query(sort=sort)).rows
    value = {
        "requests": lambda r: r.demand.requests,
        "importance": lambda r: r.demand.weighted_requests,
        "customers": lambda r: r.demand.customers,
        "revenue": lambda r: r.demand.revenue,
        "pipeline": lambda r: r.demand.open_pipeline,
        "named": lambda r: r.named_pipeline,
        "weighted": lambda r: r.demand.weighted_pipeline,
        "trend": lambda r: r.trend,
    }[sort]
    numbers = [value(r) for r in rows]
    assert numbers == sorted(numbers, reverse=True)


def test_segments_split_the_requests_and_a_window_keeps_the_recent_ones(
    settings: Settings, synced: Store
) -> None:
    """Every request's customer is in exactly one revenue band, so the bands' requests add
    up to the whole; a window counts only requests made inside it."""
    everything = {r.key: r.demand.requests for r in gather(settings, synced).rows}
    summed: dict[str, int] = {}
    for segment in SEGMENTS:
        for row in gather(settings, synced, Query(Filters(segment=segment))).rows:
            summed[row.key] = summed.get(row.key, 0) + row.demand.requests
    assert {k: v for k, v in summed.items() if v} == {k: v for k, v in everything.items() if v}
    now = datetime.now(UTC)
    recent = gather(settings, synced, Query(Filters(since=now - timedelta(days=30)), now=now)).rows
    full = {r.key: r.demand for r in gather(settings, synced, Query(now=now)).rows}
    assert recent, "the sandbox world has requests in the last 30 days"
    for row in recent:
        assert row.demand.requests == full[row.key].requests_last_30d, row.key


def test_project_and_status_filters(settings: Settings, synced: Store) -> None:
    rows = gather(settings, synced).rows
    project, status = rows[0].project, rows[0].status
    assert gather(settings, synced, Query(Filters(project="NOPE"))).rows == []
    assert len(gather(settings, synced, Query(Filters(project=project.lower()))).rows) == len(rows)
    by_status = gather(settings, synced, Query(Filters(status=status))).rows
    assert by_status and {r.status for r in by_status} == {status}


def test_csv_json_and_html_agree(synced: Store, store_url: str, tmp_path) -> None:
    """The CSV and JSON carry the same rows; the page shows each row's numbers and loads
    nothing from the network."""
    rows = json.loads(cli(store_url, "--json"))["issues"]
    table = list(csv.DictReader(io.StringIO(cli(store_url, "--csv"))))
    assert [r["key"] for r in table] == [r["key"] for r in rows]
    assert [int(r["requests"]) for r in table] == [r["requests"] for r in rows]
    assert [r["revenue"] for r in table] == [r["revenue"] for r in rows]
    page_path = tmp_path / "report.html"
    cli(store_url, "--html", str(page_path))
    page = page_path.read_text()
    for row in rows:
        found = re.search(rf'<tr data-key="{row["key"]}">(.*?)</tr>', page)
        assert found, row["key"]
        assert f'data-value="{row["requests"]}"' in found[1]
        assert f'data-value="{row["revenue"]}"' in found[1]
    assert not re.search(r"<script|<link|@import|url\(|<img", page)
    assert page.count("<svg") >= 3 and "Demand with no issue yet" in page


def test_the_history_keeps_one_point_per_change(
    settings: Settings, synced: Store, sandbox_url: str
) -> None:
    """Each publish that changed an issue's numbers adds one point; a run that writes
    nothing adds none."""
    history = synced.ledger.demand_history()
    assert set(history) == set(expected_demand(sandbox_url))
    assert all(len(points) == 1 for points in history.values())
    run_cycle(settings, synced)
    assert synced.ledger.demand_history() == history


def test_since_reads_days_weeks_months_and_dates() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert parse_since("30d", now) == now - timedelta(days=30)
    assert parse_since("2w", now) == now - timedelta(days=14)
    assert parse_since("2026-01-31", now) == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_since(None, now) is None
