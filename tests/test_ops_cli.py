"""The operations commands as an admin runs them: `pmsync check` naming exactly what is
wrong, `pmsync status` with lags, runs, dead letters, inbox and schedules, and
`pmsync backfill` on the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.backfill import run_backfill
from flows.check import run_checks
from flows.pipeline import run_cycle
from pmsync.cli import app
from pmsync.status_cmd import status_report
from store import Store
from store.inbox import Delivery

runner = CliRunner()


def by_name(results: list[Any]) -> dict[str, Any]:
    return {result.name: result for result in results}


# -- check -------------------------------------------------------------------------------


def test_check_names_a_refused_token_and_a_missing_field(sandbox_url: str, store_url: str) -> None:
    """An admin who pasted a wrong Zendesk token and misspelt a Jira field must read both
    mistakes, each with the setting to change (and the field's closest names), while the
    tools that are right say ok."""
    settings = Settings.for_sandbox(
        sandbox_url,
        database_url=store_url,
        zendesk_api_token=SecretStr("not-the-token"),
        jira_field_revenue="Customer Revenu",
    )

    checks = by_name(run_checks(settings))

    assert not checks["zendesk"].ok
    assert "401" in checks["zendesk"].detail
    assert "PMSYNC_ZENDESK_API_TOKEN" in checks["zendesk"].detail
    assert "not-the-token" not in checks["zendesk"].detail
    assert not checks["jira"].ok
    assert "'Customer Revenu'" in checks["jira"].detail
    assert "did you mean 'Customer Revenue'" in checks["jira"].detail
    assert all(checks[t].ok for t in ("intercom", "freshdesk", "hubspot", "salesforce"))
    assert checks["database"].ok and checks["prefect"].ok


def test_check_names_an_unreachable_url_and_refused_salesforce_credentials(
    sandbox_url: str, store_url: str
) -> None:
    """A wrong host is not a credentials problem: the message says which URL setting."""
    settings = Settings.for_sandbox(
        sandbox_url,
        database_url=store_url,
        hubspot_url="http://127.0.0.1:9/hubspot",
        salesforce_client_secret=SecretStr("wrong"),
    )

    checks = by_name(run_checks(settings, timeout=5))

    assert not checks["hubspot"].ok and "unreachable" in checks["hubspot"].detail
    assert "PMSYNC_HUBSPOT_URL" in checks["hubspot"].detail
    assert not checks["salesforce"].ok
    assert "PMSYNC_SALESFORCE_CLIENT_SECRET" in checks["salesforce"].detail


@responses.activate
def test_check_tells_a_missing_permission_from_a_wrong_token() -> None:
    """403 means the token works but lacks a permission: sending the admin to fix the
    token would waste their time."""
    responses.get(
        "https://acme.freshdesk.test/api/v2/companies",
        status=403,
        json={"code": "access_denied", "message": "You are not authorized to perform this action."},
    )
    settings = Settings(
        freshdesk_url="https://acme.freshdesk.test",
        freshdesk_api_key=SecretStr("key"),
        database_url="sqlite://",
    )

    checks = by_name(run_checks(settings))

    assert not checks["freshdesk"].ok
    assert checks["freshdesk"].detail.startswith("permission refused (403)")


def test_check_on_the_command_line_exits_non_zero_with_a_table_or_json(
    sandbox_url: str, store_url: str, tmp_path: Path
) -> None:
    """Scripts and CI gate on the exit code: 0 only when every check passes."""
    env = {
        "PMSYNC_DATABASE_URL": store_url,
        "PMSYNC_HUBSPOT_URL": f"{sandbox_url}/hubspot",
        "PMSYNC_HUBSPOT_ACCESS_TOKEN": "wrong",
    }
    failed = runner.invoke(app, ["check", "--json"], env=env)
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    assert report["ok"] is False
    assert {c["name"]: c["ok"] for c in report["checks"]} == {
        "database": True,
        "hubspot": False,
        "prefect": True,
    }
    fine = runner.invoke(app, ["check", "--sandbox", sandbox_url], env=env)
    assert fine.exit_code == 0, fine.output
    assert "salesforce" in fine.stdout and "fail" not in fine.stdout


def test_check_reports_configuration_errors_as_they_are(tmp_path: Path) -> None:
    """A tool with a URL but no token stops everything: the message names the setting."""
    env = {"PMSYNC_JIRA_URL": "https://acme.atlassian.net", "PMSYNC_DATABASE_URL": "sqlite://"}
    done = runner.invoke(app, ["check", "--json"], env=env)
    assert done.exit_code == 1
    [problem] = json.loads(done.stdout)["checks"]
    assert problem["name"] == "configuration" and "PMSYNC_JIRA_API_TOKEN" in problem["detail"]


def test_check_reports_the_database_and_its_schema(tmp_path: Path) -> None:
    """An unreachable database and a store behind the code's schema are told apart."""
    from flows.check import check_database

    assert "no database yet" in check_database(f"sqlite:///{tmp_path / 'new.db'}")
    Store(f"sqlite:///{tmp_path / 'pmsync.db'}", upgrade=True).engine.dispose()
    assert "(head)" in check_database(f"sqlite:///{tmp_path / 'pmsync.db'}")
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    [database, _prefect] = run_checks(settings, timeout=3)
    assert not database.ok and "cannot connect" in database.detail
    assert "PMSYNC_DATABASE_URL" in database.detail


def test_check_wants_a_prefect_server_when_budgets_live_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Budgets shared through Prefect without a server would fail every call of a run."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = Settings(database_url="sqlite://", rate_budget_scope="prefect")
    checks = by_name(run_checks(settings))
    assert not checks["prefect"].ok and "PREFECT_API_URL" in checks["prefect"].detail


# -- status ------------------------------------------------------------------------------


def test_status_json_shows_lags_runs_dead_letters_inbox_and_schedule(
    settings: Settings, store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ops read one object to see whether syncs keep up: each stream's cursor with its
    lag, the last runs and their outcome, dead letters by reason, the inbox backlog,
    recent backfills and (with no Prefect server) a note instead of schedules."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    bad = {
        "id": 990001,
        "subject": "Export is broken",
        "status": "open",
        "requester_id": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "not-a-date",
    }
    requests.post(
        f"{sandbox_url}/_sandbox/inject",
        json={"tool": "zendesk", "kind": "ticket", "record": bad},
        timeout=30,
    ).raise_for_status()
    run_cycle(settings, store)
    run_backfill(settings, store, "hubspot", datetime.now(UTC) - timedelta(days=60), relink=False)
    store.inbox.add("jira", [Delivery("d-1", {"issue": {"id": "1"}})])
    env = {"PMSYNC_DATABASE_URL": settings.database_url}

    done = runner.invoke(app, ["status", "--json"], env=env)

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert set(report) == {
        "tools",
        "prefect",
        "cursors",
        "features_off",
        "failed_tools",
        "cursors_clamped",
        "drift_repaired",
        "unknown_issue_keys",
        "records",
        "dead_letters",
        "runs",
        "inbox",
        "backfills",
        "schedule",
    }
    jira = report["cursors"]["jira.issues"]
    assert set(jira) == {"value", "saved_at", "cursor_time", "lag_s", "ahead_of_clock"}
    assert isinstance(jira["lag_s"], int) and jira["lag_s"] >= 0
    assert report["cursors"]["hubspot.deals"]["cursor_time"]  # a compound cursor's time
    assert report["cursors"]["zendesk.tickets"]["lag_s"] is None  # an opaque cursor
    assert not any(stream.startswith("backfill:") for stream in report["cursors"])
    assert [run["kind"] for run in report["runs"][:2]] == ["backfill", "sync"]
    assert report["runs"][1]["outcome"] == "ok"
    [(reason, count)] = report["dead_letters"].items()
    assert "updated_at" in reason and count == 1
    assert report["inbox"]["backlog"] == 1 and report["inbox"]["by_status"]["pending"] == 1
    [backfill] = report["backfills"]
    assert backfill["source"] == "hubspot" and backfill["status"] == "done"
    assert "PREFECT_API_URL" in report["schedule"]["note"]
    text = runner.invoke(app, ["status"], env=env)
    assert (
        text.exit_code == 0 and "jira.issues" in text.stdout and "Inbox backlog: 1" in text.stdout
    )


def test_status_lag_is_now_minus_the_cursor_time(store: Store) -> None:
    """A cursor from two hours ago is a sync two hours behind."""
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    store.records.save_page([], stream="jira.issues", cursor="2026-05-01T10:00:00+00:00")
    store.records.save_page(
        [], stream="salesforce.opportunities", cursor={"modstamp": "2026-05-01T11:30:00Z"}
    )
    cursors = status_report(store, now)["cursors"]
    assert cursors["jira.issues"]["lag_s"] == 7200
    assert cursors["salesforce.opportunities"]["lag_s"] == 1800


# -- backfill on the command line ---------------------------------------------------------


def test_backfill_command_runs_resumes_and_says_when_there_is_nothing_to_do(
    sandbox_url: str, store_url: str
) -> None:
    """The documented command: a dry run writes nothing, the run reads every window, and
    the same command again does nothing and says so."""
    env = {"PMSYNC_DATABASE_URL": store_url}
    args = ["backfill", "--sandbox", sandbox_url, "--source", "jira", "--since", "2025-01-01"]
    args += ["--until", "2026-12-01", "--window", "30d"]

    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "Would read" in dry.stdout and "Nothing was written" in dry.stdout
    assert Store(store_url, upgrade=True).records.count() == {}

    first = json.loads(runner.invoke(app, [*args, "--json"], env=env).stdout)
    assert first["status"] == "done" and first["windows_done"] == first["windows_total"] == 24
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0 and "nothing to do" in again.stdout

    wrong = runner.invoke(app, [*args[:-2], "--window", "7 days"], env=env)
    assert wrong.exit_code == 2 and "not a length" in wrong.output


def test_status_says_when_the_prefect_server_does_not_answer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that is down must not hang `pmsync status` in the client's retries: the
    rest of the report comes, with the error where the schedule would be."""
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    started = datetime.now(UTC)
    schedule = status_report(store)["schedule"]
    assert "127.0.0.1:9" in schedule["error"]
    assert datetime.now(UTC) - started < timedelta(seconds=10)
