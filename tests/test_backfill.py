"""Backfills against the sandbox over real HTTP: windows that cover the range, a resume
after a kill, incremental cursors that never move, re-runs that write nothing, and one
relink and publish at the end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from processes import prefect_env, run_python

from connectors import registry
from connectors.settings import Settings
from flows.backfill import (
    backfill_window,
    parse_moment,
    parse_window,
    run_backfill,
    windows,
)
from flows.pipeline import pull_source
from models import ConfigError, RecordKind
from store import Store
from tests.jira_view import assert_ticket_shows
from tests.oracle import expected_demand

TOOLS = ["jira", "zendesk", "intercom", "freshdesk", "hubspot", "salesforce"]
KINDS = ("issue", "feedback", "deal", "account", "tool_link")
# The seeded world's oldest record is from late 2023; its newest are from today.
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=30)


def snapshot(store: Store, source: str | None = None) -> dict[tuple[str, str, str], Any]:
    """Every stored record as it is, keyed by (source, kind, id)."""
    return {
        (record.source, kind, record.id): record.model_dump(mode="json")
        for kind in KINDS
        for record in store.records.load(kind, source)
    }


def requests_made(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/_sandbox/requests", timeout=30).json()


def forget_requests(url: str) -> None:
    requests.delete(f"{url}/_sandbox/requests", timeout=30).raise_for_status()


class Recorder:
    """A `step` that writes down every step a backfill takes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, fn: Any) -> Any:
        def run(*args: Any) -> Any:
            self.calls.append((fn.__name__, args))
            return fn(*args)

        return run

    def windows_run(self) -> list[int]:
        return [args[4] for name, args in self.calls if name == "backfill_window"]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


# -- windows and parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "window", "expected"),
    [
        ("2026-01-01", "2026-01-15", "7d", 2),
        ("2026-01-01", "2026-01-16", "7d", 3),  # the last window is one day long
        ("2026-01-01", "2026-01-02", "7d", 1),  # a range shorter than one window
        ("2026-01-01T00:00:00Z", "2026-01-01T12:00:00+02:00", "1h", 10),  # 10:00 UTC
        ("2026-01-01", "2026-03-01", "2w", 5),
    ],
)
def test_windows_cover_the_range_end_to_end(
    since: str, until: str, window: str, expected: int
) -> None:
    """A gap between windows would lose records, an overlap past `until` would read the
    future: each window starts where the last ended, the first at since, the last at until."""
    start, end = parse_moment(since), parse_moment(until)
    cut = windows(start, end, parse_window(window))
    assert len(cut) == expected
    assert cut[0][0] == start and cut[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(cut, cut[1:], strict=False))
    assert all(lo < hi for lo, hi in cut)


@pytest.mark.parametrize(
    ("since", "until", "window", "message"),
    [
        ("2026-02-01", "2026-01-01", "7d", "must be after"),
        ("2026-01-01", "2026-02-01", "7x", "not a length"),
        ("2026-01-01", "2026-02-01", "0d", "not a length"),
        ("01/02/2026", "2026-02-01", "7d", "not a date"),
        ("2000-01-01", "2026-02-01", "1h", "at most"),
    ],
)
def test_bad_parameters_are_refused_with_what_to_change(
    since: str, until: str, window: str, message: str
) -> None:
    """An admin's typo must stop the backfill before it reads anything, saying why."""
    with pytest.raises(ConfigError, match=message):
        windows(parse_moment(since), parse_moment(until), parse_window(window))


def test_a_date_without_a_zone_is_utc_midnight() -> None:
    """`--since 2026-01-31` means the start of that day in UTC, whatever the machine's zone."""
    assert parse_moment("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_moment("2026-01-31T10:00+02:00") == datetime(2026, 1, 31, 8, tzinfo=UTC)


# -- what a backfill reads -----------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
def test_a_backfill_stores_what_a_full_pull_stores(
    settings: Settings, store: Store, tmp_path: Path, tool: str
) -> None:
    """Windows cut by `until` must neither drop the records at their edges nor read one
    twice into different shapes: the backfilled store equals a full pull's."""
    result = run_backfill(settings, store, tool, SINCE, window=MONTH, relink=False)

    full = Store(f"sqlite:///{tmp_path / 'full.db'}", upgrade=True)
    pull_source(settings, full, tool, full=True)
    assert result.status == "done" and result.windows_done == result.windows_total > 20
    assert snapshot(store) == snapshot(full)
    assert result.records >= len(snapshot(full))


WINDOWED = {  # the kind each tool reads by change time (the rest are listings)
    "jira": "issue",
    "zendesk": "feedback",
    "intercom": "feedback",
    "freshdesk": "feedback",
    "hubspot": "deal",
    "salesforce": "deal",
}


@pytest.mark.parametrize("tool", TOOLS)
def test_each_window_reads_only_records_changed_inside_it(settings: Settings, tool: str) -> None:
    """`until` is the window's exclusive end in every tool's own terms (JQL epoch ms,
    HubSpot LT, Intercom `<`, SOQL, Freshdesk's and Zendesk's stop rules), and nothing
    changed inside the window is missed. The window's edges sit on records' own times."""
    kind = WINDOWED[tool]
    full = [
        record
        for page in registry.vendor(tool).connector(settings).pull(lambda stream: None)
        if page.kind == kind
        for record in page.records
    ]
    times = sorted(record.updated_at for record in full)
    start, end = times[len(times) // 4], times[3 * len(times) // 4]

    pages = (
        registry.vendor(tool)
        .connector(settings)
        .pull(lambda stream: None, since=start, until=end, listings=False)
    )
    read = [record for page in pages for record in page.records]

    assert read, "a quarter to three quarters of a tool's records changed in the window"
    assert all(record.updated_at < end for record in read)
    if tool != "zendesk":  # Zendesk's export matches by generated_timestamp: older may come
        assert all(record.updated_at >= start for record in read)
    inside = {record.id for record in full if start <= record.updated_at < end}
    assert inside <= {record.id for record in read}
    assert any(record.updated_at == start for record in read), "the inclusive start edge"


def test_a_backfill_never_moves_the_incremental_cursors(settings: Settings, store: Store) -> None:
    """If a backfill moved `jira.issues`, the next sync would skip or re-read changes; its
    window cursors must go too, or `pmsync status` would show streams nobody syncs."""
    for tool in ("jira", "hubspot"):
        pull_source(settings, store, tool, full=False)
    before = store.cursors.all()

    run_backfill(settings, store, "hubspot", SINCE, window=MONTH)
    run_backfill(settings, store, "jira", SINCE, window=MONTH)

    assert store.cursors.all() == before


def test_a_killed_backfill_resumes_at_its_first_unfinished_window(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """A backfill stopped in the middle of window 5 (after storing a page of it) picks up
    at window 5 when run again with the same parameters, not at window 1, and ends with
    every record."""
    until = datetime(2026, 11, 1, tzinfo=UTC)
    seen = {"pages": 0}

    def kill_in_window_five(progress: Any) -> None:
        if progress.window is not None and progress.windows_done == 4:
            seen["pages"] += 1
            raise KeyboardInterrupt("the worker was stopped")

    first = Recorder()
    with pytest.raises(KeyboardInterrupt):
        run_backfill(
            settings,
            store,
            "jira",
            SINCE,
            until,
            timedelta(days=90),
            step=first,
            on_progress=kill_in_window_five,
        )
    assert first.windows_run() == [0, 1, 2, 3, 4] and seen["pages"] == 1
    [stopped] = store.runs.backfills()
    assert (stopped["status"], stopped["windows_done"]) == ("failed", 4)
    assert "KeyboardInterrupt" in stopped["error"]

    second = Recorder()
    result = run_backfill(settings, store, "jira", SINCE, until, timedelta(days=90), step=second)

    assert result.id == stopped["id"] and result.status == "done"
    assert second.windows_run() == list(range(4, result.windows_total))
    full = Store(f"sqlite:///{tmp_path / 'full.db'}", upgrade=True)  # the same range, in one window
    run_backfill(settings, full, "jira", SINCE, until, timedelta(days=900), relink=False)
    assert snapshot(store) == snapshot(full)
    assert [s for s in store.cursors.all() if s.startswith("backfill:")] == []


def test_a_finished_backfill_run_again_reads_and_writes_nothing(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Admins re-run commands: the second run of a finished backfill must not call the
    tools or Jira, nor touch a stored record; --force redoes it."""
    run_backfill(settings, store, "zendesk", SINCE, window=MONTH)
    stored = {r.id: r for r in store.records.load(RecordKind.FEEDBACK)}
    synced = store_synced_at(store)
    forget_requests(sandbox_url)

    again = run_backfill(settings, store, "zendesk", SINCE, window=MONTH)

    assert again.status == "already done" and again.windows_run == 0
    assert {tool: n["total"] for tool, n in requests_made(sandbox_url).items() if n["total"]} == {}
    assert store_synced_at(store) == synced
    assert {r.id: r for r in store.records.load(RecordKind.FEEDBACK)} == stored
    forced = run_backfill(settings, store, "zendesk", SINCE, window=MONTH, force=True)
    assert forced.status == "done" and forced.windows_run == forced.windows_total
    assert forced.id != again.id


def store_synced_at(store: Store) -> list[Any]:
    from sqlalchemy import select

    from store.schema import records

    with store.engine.connect() as conn:
        return sorted(conn.execute(select(records.c.record_id, records.c.synced_at)).all())


def test_relink_and_publish_happen_once_after_the_last_window(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Publishing per window would write each Jira issue dozens of times (and meet its
    per-issue write limit): the backfill relinks and publishes once, after every window,
    and the tickets then show the same demand a sync would."""
    for tool in ("jira", "zendesk", "intercom", "freshdesk", "salesforce"):
        run_backfill(settings, store, tool, SINCE, window=MONTH, relink=False)
    forget_requests(sandbox_url)
    steps = Recorder()

    result = run_backfill(settings, store, "hubspot", SINCE, window=MONTH, step=steps)

    names = steps.names()
    assert names.count("link_all") == 1 and names.count("publish_all") == 1
    assert names.index("link_all") > max(i for i, n in enumerate(names) if n == "backfill_window")
    expected = expected_demand(sandbox_url)
    assert result.published == {"written": len(expected), "unchanged": 0, "failed": 0}
    jira_routes = requests_made(sandbox_url)["jira"]["routes"]
    assert jira_routes.get("PUT /rest/api/3/issue/{key}", 0) <= len(expected)
    assert_ticket_shows(sandbox_url, expected)


def test_a_dry_run_shows_the_windows_and_counts_and_writes_nothing(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """An admin sizing a backfill sees each window with what it would read, and the store
    and Jira stay exactly as they were."""
    forget_requests(sandbox_url)
    plan = run_backfill(settings, store, "jira", SINCE, window=timedelta(days=90), dry_run=True)

    assert plan.status == "dry run" and store.records.count() == {} and store.runs.backfills() == []
    assert requests_made(sandbox_url)["jira"]["writes"] == 0
    assert len(plan.plan) == plan.windows_total
    done = run_backfill(settings, store, "jira", SINCE, plan.until, timedelta(days=90))
    assert sum(row["would_read"] for row in plan.plan) == len(store.records.load(RecordKind.ISSUE))
    assert done.windows_total == plan.windows_total


def test_a_window_checkpoint_refuses_a_second_run_of_the_same_window(
    settings: Settings, store: Store
) -> None:
    """Two workers running one backfill must not both count a window as theirs."""
    from store import BackfillConflict

    end = datetime(2026, 1, 1, tzinfo=UTC)
    backfill_id = store.runs.start_backfill("jira", SINCE, end, False, 86400 * 365, 3)
    bounds = (SINCE, SINCE + timedelta(days=365))
    backfill_window(settings, store, "jira", backfill_id, 0, bounds)
    with pytest.raises(BackfillConflict):
        backfill_window(settings, store, "jira", backfill_id, 0, bounds)


def test_an_unconfigured_source_is_refused(settings: Settings, store: Store) -> None:
    """A typo in --source must not start a backfill that does nothing."""
    with pytest.raises(ConfigError, match="jra is not configured"):
        run_backfill(settings, store, "jra", SINCE)


def test_the_backfill_flow_leaves_a_progress_artifact(sandbox_url: str, tmp_path: Path) -> None:
    """Run as a Prefect flow (what the `backfill` deployment runs), the backfill reports
    its progress in an artifact the UI shows, at 100% when done (a temporary Prefect
    server; ~15 s)."""
    script = (
        "import json, sys; from flows.backfill import backfill; "
        "from prefect.client.orchestration import get_client; "
        "from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey; "
        "r = backfill(source='hubspot', since='2026-01-01', window='30d', "
        "sandbox_url=sys.argv[1], database_url=sys.argv[2]); "
        "c = get_client(sync_client=True); "
        "a = c.read_artifacts(artifact_filter=ArtifactFilter("
        "key=ArtifactFilterKey(any_=['backfill-hubspot']))); "
        "print(json.dumps({'result': r, 'progress': [x.data for x in a]}))"
    )
    env = prefect_env(tmp_path / "prefect", "WARNING")
    done = run_python(
        "-c", script, sandbox_url, f"sqlite:///{tmp_path / 'flow.db'}", env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["result"]["status"] == "done"
    assert report["result"]["windows_done"] == report["result"]["windows_total"] > 5
    assert report["progress"] == [100]
