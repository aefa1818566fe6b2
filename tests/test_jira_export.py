"""`pmsync eval links` reads a Jira CSV export as Jira writes it: a byte order mark,
columns repeated once per value, duplicate links naming issue keys, dates in the user's
format (30/Sep/21 17:20, or 30/Sep/21 5:20 PM on Cloud), "Unresolved"."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.tasks import _time, read_task
from pmsync.cli import app

HEADER = [
    "Summary",
    "Issue key",
    "Issue id",
    "Issue Type",
    "Status",
    "Resolution",
    "Created",
    "Resolved",
    "Labels",
    "Labels",
    "Description",
    "Inward issue link (Duplicate)",
    "Outward issue link (Duplicate)",
    "Outward issue link (Duplicate)",
]
ROWS = [
    [
        "PDF export of dashboards",
        "ANA-1",
        "10001",
        "Story",
        "Open",
        "Unresolved",
        "01/Sep/21 9:00 AM",
        "",
        "export",
        "",
        "Export dashboards as PDF files",
        "ANA-3",
        "",
        "",
    ],
    [
        "SSO with Okta",
        "ANA-2",
        "10002",
        "Story",
        "Done",
        "Done",
        "02/Sep/21 10:00 AM",
        "20/Sep/21 5:20 PM",
        "",
        "",
        "Single sign-on through Okta",
        "",
        "",
        "",
    ],
    [
        "Dashboards to PDF please",
        "ANA-3",
        "10003",
        "Bug",
        "Closed",
        "Duplicate",
        "30/Sep/21 5:20 PM",
        "01/Oct/21 8:00 AM",
        "",
        "",
        "We want a PDF export of dashboards",
        "",
        "ANA-1",
        "",
    ],
    [
        "Okta login",
        "ANA-4",
        "10004",
        "Bug",
        "Closed",
        "Duplicate",
        "03/Sep/21 11:00 AM",
        "04/Sep/21 11:00 AM",
        "",
        "",
        "Sign in with Okta SSO",
        "",
        "ANA-2",
        "ANA-1",
    ],
]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "Jira.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # Jira writes a BOM
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return path


def test_a_jira_export_is_read_as_the_linking_data(export: Path) -> None:
    """Duplicates are feedback, their partners come from the repeated link columns (by key),
    and a candidate closed before the feedback was written is no right answer."""
    task = read_task(export, None)
    assert [c.key for c in task.candidates] == ["10001", "10002"]
    partners = {f.id: set(f.partners) for f in task.feedback}
    # ANA-4 (3 Sep) duplicates ANA-2, open until 20 Sep, and ANA-1; ANA-3 names ANA-1.
    assert partners == {"10003": {"10001"}, "10004": {"10001", "10002"}}
    assert task.closed_at["10001"] is None  # "Unresolved"
    assert task.closed_at["10002"] == datetime(2021, 9, 20, 17, 20, tzinfo=UTC)
    assert task.feedback[0].created == datetime(2021, 9, 30, 17, 20, tzinfo=UTC)
    assert task.feedback[0].text == "Dashboards to PDF please\nWe want a PDF export of dashboards"


@pytest.mark.parametrize(
    "written, read",
    [
        ("30/Sep/21 17:20", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        ("30/Sep/21 5:20 PM", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        ("30/Sep/21 12:05 AM", datetime(2021, 9, 30, 0, 5, tzinfo=UTC)),
        ("2020-01-02 17:14:21+00:00", datetime(2020, 1, 2, 17, 14, 21, tzinfo=UTC)),
        ("", None),
    ],
)
def test_jira_and_iso_dates(written: str, read: datetime | None) -> None:
    assert _time({"Created": written}, "Created") == read


def test_an_unknown_date_names_its_column_and_value() -> None:
    with pytest.raises(ValueError, match="Created 'Sept 30'"):
        _time({"Created": "Sept 30"}, "Created")


def test_eval_links_runs_on_a_jira_export_without_a_pairs_file(export: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "links", "--reports", str(export), "--json"])
    assert result.exit_code == 0, result.output
    measured = json.loads(result.stdout)
    assert measured["n"] == 2 and measured["recall_at_5"] == 1.0
