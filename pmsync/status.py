"""What `pmsync status` says per tool: when it was last pulled, how old its newest record
is, and its last failure with the reason and how long that run took.

Lag used to be the newest record's age alone, which reads "3.3d" right after a good sync
of a quiet Jira: that is the data's age, not the sync's. Both are shown, apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from store import Store

RUNS_LOOKED_AT = 200  # enough to find each tool's last success and failure


def iso(value: datetime | None) -> str | None:
    """An ISO time in UTC, to the second."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat()


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    aware = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in (later, earlier)]
    return max(0, round((aware[0] - aware[1]).total_seconds()))


def run_kind(stats: dict[str, Any], configured: list[str]) -> str:
    """A run's name as Prefect names its deployment: `sync`, `sync-zendesk` for a sync of
    one tool of several, `backfill`, ..."""
    kind = str(stats.get("kind") or "sync")
    if kind != "sync":
        return kind
    tools = set(stats.get("pulled") or {}) | set(stats.get("failed") or {})
    if len(tools) == 1 and len(configured) > 1:
        return f"sync-{next(iter(tools))}"
    return kind


def tools_report(store: Store, configured: list[str], now: datetime) -> dict[str, Any]:
    """Per configured tool (and any tool a run pulled): `last_pulled` and `since_pull_s`,
    `newest_record` and `newest_record_age_s`, `last_failure` (reason, at, duration_s)."""
    runs = store.runs.last(RUNS_LOOKED_AT)  # newest first
    tools: dict[str, dict[str, Any]] = {}
    names = list(configured)
    for run in runs:
        for tool in (run["stats"] or {}).get("pulled") or {}:
            if tool not in names:
                names.append(tool)
    for tool in names:
        pulled = next((r for r in runs if tool in ((r["stats"] or {}).get("pulled") or {})), None)
        failed = next((r for r in runs if tool in ((r["stats"] or {}).get("failed") or {})), None)
        newest = store.records.newest_change(tool)
        last_pulled = pulled["finished_at"] if pulled else None
        tools[tool] = {
            "last_pulled": iso(last_pulled),
            "since_pull_s": _seconds(now, last_pulled),
            "newest_record": iso(newest),
            "newest_record_age_s": _seconds(now, newest),
            "last_failure": (
                {
                    "reason": failed["stats"]["failed"][tool],
                    "at": iso(failed["finished_at"]),
                    "duration_s": _seconds(failed["finished_at"], failed["started_at"]),
                    "run": failed["id"],
                    # a failure older than the last good pull is history, not the state
                    "since_fixed": bool(pulled and pulled["id"] > failed["id"]),
                }
                if failed
                else None
            ),
        }
    return tools
