"""What ops see on the command line: `pmsync sync`'s per-tool progress on a terminal and
nothing extra with --json, a backfill dry run that says why it cannot count, and
`pmsync status` telling the truth per tool."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import pmsync.sync_cmd
from connectors import registry
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from pmsync.cli import app
from pmsync.progress import cycle_progress
from pmsync.status_cmd import status_report
from services.incremental import LINKED
from store import Store
from tests.test_tool_failures import closed_port

runner = CliRunner()


@pytest.fixture
def no_prefect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))


def test_sync_shows_each_tool_then_link_sum_publish_on_a_terminal_only(
    sandbox_url: str, store_url: str, monkeypatch: pytest.MonkeyPatch, no_prefect: None
) -> None:
    """On a terminal, stderr shows a line per tool with its pages and records, then link,
    sum and publish; with --json stdout is the one JSON object and stderr has no progress."""
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    monkeypatch.setattr(pmsync.sync_cmd, "err", terminal)
    env = {"PMSYNC_DATABASE_URL": store_url}
    shown = runner.invoke(app, ["sync", "--sandbox", sandbox_url], env=env)
    assert shown.exit_code == 0, shown.output
    drawn = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    for tool in ("jira", "zendesk", "intercom", "freshdesk", "hubspot", "salesforce"):
        assert re.search(rf"{tool}\s+\d+ pages, \d+ records pulled", drawn), drawn
    assert re.search(r"link\s+\d+ links", drawn) and re.search(r"publish\s+\d+ issues", drawn)

    screen.truncate(0)
    quiet = runner.invoke(app, ["sync", "--sandbox", sandbox_url, "--json"], env=env)
    assert quiet.exit_code == 0
    assert json.loads(quiet.stdout)["failed"] == {}
    assert screen.getvalue() == ""


def test_no_progress_when_not_a_terminal_or_asked_for_json() -> None:
    piped = Console(file=io.StringIO(), force_terminal=False)
    with cycle_progress(piped, enabled=True) as listener:
        assert listener is None
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with cycle_progress(terminal, enabled=False) as listener:
        assert listener is None


def test_a_zendesk_backfill_dry_run_says_why_it_cannot_count(
    sandbox_url: str, store_url: str, no_prefect: None
) -> None:
    args = ["backfill", "--sandbox", sandbox_url, "--source", "zendesk", "--since", "2026-01-01"]
    args += ["--until", "2026-03-01", "--window", "30d", "--dry-run"]
    env = {"PMSYNC_DATABASE_URL": store_url}
    dry = runner.invoke(app, args, env=env)
    assert dry.exit_code == 0, dry.output
    assert "incremental export has no count" in dry.stdout
    plan = json.loads(runner.invoke(app, [*args, "--json"], env=env).stdout)["windows"]
    assert all("no count" in row["why_unknown"] for row in plan)
    jira = runner.invoke(app, [*args[:4], "jira", *args[5:]], env=env)
    assert "Would read about" in jira.stdout and "'?'" not in jira.stdout


def test_status_per_tool_last_pull_newest_record_and_last_failure(
    sandbox_url: str, store_url: str, no_prefect: None
) -> None:
    """After a good sync then a failed HubSpot-only sync: each tool's last pull is seconds
    ago (not the newest record's age, which can be days), HubSpot's last failure carries
    its reason and duration, the HubSpot-only run is named `sync-hubspot` as its
    deployment is, times have no microseconds, and pipeline:* streams show only with
    --all."""
    store = Store(store_url, upgrade=True)
    settings = Settings.for_sandbox(sandbox_url, database_url=store_url)
    run_cycle(settings, store)
    broken = settings.model_copy(update={"hubspot_url": f"http://127.0.0.1:{closed_port()}/x"})
    run_cycle(broken, store, sources=["hubspot"])

    report = status_report(store, configured=list(registry.configured(settings)))
    jira = report["tools"]["jira"]
    assert jira["since_pull_s"] is not None and jira["since_pull_s"] < 120
    assert jira["newest_record_age_s"] is not None
    newest = datetime.fromisoformat(jira["newest_record"])
    assert abs((datetime.now(UTC) - newest).total_seconds() - jira["newest_record_age_s"]) < 120
    failure = report["tools"]["hubspot"]["last_failure"]
    assert "PMSYNC_HUBSPOT_URL" in failure["reason"] and failure["duration_s"] is not None
    assert failure["since_fixed"] is False
    assert report["tools"]["zendesk"]["last_failure"] is None
    assert [run["kind"] for run in report["runs"][:2]] == ["sync-hubspot", "sync"]
    assert report["runs"][0]["duration_s"] is not None
    for stamp in (report["runs"][0]["started_at"], jira["last_pulled"], jira["newest_record"]):
        assert "." not in stamp, stamp
    assert not any(stream.startswith("pipeline:") for stream in report["cursors"])
    assert LINKED in status_report(store, internal=True)["cursors"]

    shown = runner.invoke(app, ["status", "--all"], env={"PMSYNC_DATABASE_URL": store_url})
    assert shown.exit_code == 0, shown.output
    assert LINKED in shown.stdout and "Tools" in shown.stdout
    assert "in this process, without Prefect" in shown.stdout.replace("\n", " ")


def test_refetch_reads_dead_letters_again_from_their_tools(
    sandbox_url: str, store_url: str, no_prefect: None
) -> None:
    """Three Zendesk tickets served broken are dead-lettered. Then one is fixed in Zendesk,
    one deleted there, one left broken: `deadletters refetch` stores the fixed one (its
    letter resolved, the ticket counted), resolves the deleted one's letter, and keeps the
    broken one with its reason; letters of other reasons are not touched with --reason."""
    import requests

    def ticket(number: int, **broken: str) -> dict[str, object]:
        return {
            "id": number,
            "subject": f"Export is broken {number}",
            "status": "open",
            "requester_id": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-02T00:00:00Z",
            **broken,
        }

    for record in (
        ticket(990001, updated_at="not-a-date"),
        ticket(990002, updated_at="not-a-date"),
        ticket(990003, created_at="not-a-date"),
    ):
        requests.post(
            f"{sandbox_url}/_sandbox/inject",
            json={"tool": "zendesk", "kind": "ticket", "record": record},
            timeout=30,
        ).raise_for_status()
    store = Store(store_url, upgrade=True)
    run_cycle(Settings.for_sandbox(sandbox_url, database_url=store_url), store)
    letters = {d["record_id"]: d for d in store.dead_letters.all()}
    assert {"990001", "990002", "990003"} <= set(letters)
    admin = f"{sandbox_url}/_sandbox"
    fix = {"tool": "zendesk", "kind": "ticket", "id": 990001, "changes": {}}
    requests.post(f"{admin}/update", json=fix, timeout=30).raise_for_status()
    gone = {"tool": "zendesk", "kind": "ticket", "id": 990002}
    requests.post(f"{admin}/delete", json=gone, timeout=30).raise_for_status()

    env = {"PMSYNC_DATABASE_URL": store_url}
    args = ["deadletters", "refetch", "--sandbox", sandbox_url, "--json"]
    other = json.loads(runner.invoke(app, [*args, "--reason", "no such reason"], env=env).stdout)
    assert other["fixed"] == other["gone"] == [] and other["still_bad"] == {}
    done = runner.invoke(app, [*args, "--reason", "date"], env=env)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["fixed"] == [letters["990001"]["id"]]
    assert report["gone"] == [letters["990002"]["id"]]
    assert "created_at" in report["still_bad"][str(letters["990003"]["id"])]
    assert "990001" in {r.id for r in store.records.load(RecordKind.FEEDBACK, "zendesk")}
    assert {d["record_id"] for d in store.dead_letters.all()} == {"990003"}
    assert report["published"] is not None


def test_serve_shows_an_error_in_one_line_and_keeps_the_traceback_for_prefect() -> None:
    """A handler before the console's (Prefect's API handler) still gets the traceback;
    the console gets the error's one line."""
    import logging

    from flows.logs import OneLineErrors

    first, console = io.StringIO(), io.StringIO()
    logger = logging.getLogger("tests.one-line")
    logger.propagate = False
    before = logging.StreamHandler(first)
    before.setFormatter(logging.Formatter("%(message)s"))
    after = logging.StreamHandler(console)
    after.addFilter(OneLineErrors())
    logger.handlers = [before, after]
    try:
        raise ValueError("amount is not a number")
    except ValueError:
        logger.exception("Encountered exception during execution")
    assert "Traceback" in first.getvalue()
    assert console.getvalue().strip().splitlines() == [
        "Encountered exception during execution: ValueError: amount is not a number"
    ]
