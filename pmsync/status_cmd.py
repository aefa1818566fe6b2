"""`pmsync status`: tools, streams, runs, dead letters, inbox, backfills and schedules."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from connectors import registry
from models import RecordKind
from pmsync.common import JsonOption, console, folded_table, settings_or_exit
from store import Store


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
        configured=registry.configured(settings),
        internal=everything,
    )
    if as_json:
        print(json.dumps(report, default=str))
        return
    tools = folded_table(
        "Tools", ("Tool", "Last pulled", "Newest record", "Last failure"), box=box.SIMPLE_HEAD
    )
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
