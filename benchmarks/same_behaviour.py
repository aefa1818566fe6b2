"""Do two versions of pmsync leave the same world behind?

Runs the same scenario through two checkouts of pmsync (each its own `python -m pmsync`, as a
user runs it) against fresh sandboxes with the same seed, then compares what each left: the
store's links, decisions, publish ledger, dead letters and closing-the-loop notes, and the
sandbox Jira's fields, labels, managed comments and demand properties. On the fault-free
worlds it also compares how many writes each made to each route of each tool.

The scenario, per world: a full sync; then the world moves (a deal's amount changes, a
ticket is deleted, an issue ships, a new ticket cites an issue key) and an incremental sync
runs; then `publish` and `deadletters replay`. The worlds: the demo world with seeds 1 to 5,
and the faulty sandbox (seed 3: 10% of requests fail, 5% of records served malformed), on
which the sync is repeated until no tool fails.

    .venv/bin/python benchmarks/same_behaviour.py --old a9e6313 [--new .] [--seeds 1-5]

`--old` and `--new` take a git revision (checked out into a temporary worktree) or a folder.
The sandbox is this checkout's. Exit status 0 when every world matches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from sandbox.server import SandboxServer  # noqa: E402

JIRA_AUTH = ("demo@example.com", "sandbox")
FAULTY = {"faults": 0.1, "fault_seed": 7, "malformed_rate": 0.05}
# Columns that hold when something happened, not what: they differ between any two runs.
TIMES = {"at", "updated", "as_of", "created", "marked_at"}
# Row ids count inserts; the ledger's hash covers the comment, whose "Updated" line is a time.
SKIP = {"id", "content_hash"}
# The worlds are generated back from one moment, so both versions meet the same dates.
NOW = datetime.now(UTC).replace(microsecond=0)
UPDATED = re.compile(r"Updated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
TABLES = (
    "links",
    "link_decisions",
    "publish_ledger",
    "dead_letters",
    "loop_notes",
    "pending_issues",
)


@contextmanager
def checkout(version: str) -> Iterator[Path]:
    """A folder holding `version`: itself when it is one, else a temporary git worktree."""
    if Path(version).is_dir():
        yield Path(version).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="pmsync-version-") as tmp:
        where = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(HERE), "worktree", "add", "--detach", str(where), version],
            check=True,
            capture_output=True,
        )
        try:
            yield where
        finally:
            subprocess.run(
                ["git", "-C", str(HERE), "worktree", "remove", "--force", str(where)],
                check=False,
                capture_output=True,
            )


def pmsync(tree: Path, database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "PMSYNC_DATABASE_URL": f"sqlite:///{database}",
        "PREFECT_HOME": str(database.parent / "prefect"),
        "PREFECT_API_URL": "",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "pmsync", *args],
        cwd=database.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def sync_until_whole(tree: Path, database: Path, url: str, tries: int) -> list[int]:
    codes = []
    for _ in range(tries):
        done = pmsync(tree, database, "sync", "--sandbox", url, "--json")
        codes.append(done.returncode)
        if done.returncode == 0:
            break
    return codes


def move_world(url: str) -> None:
    """Changes a person makes in the tools between two syncs, the same for both versions."""
    links = requests.get(f"{url}/_sandbox/truth", timeout=30).json()["links"]
    keys = sorted({x["issue_key"] for x in links})
    deal = next(x for x in links if x["source"] in ("hubspot", "salesforce"))
    tickets = sorted({x["record_id"] for x in links if x["source"] == "zendesk"})
    if deal["source"] == "hubspot":
        post(
            url,
            "update",
            tool="hubspot",
            kind="deal",
            id=deal["record_id"],
            changes={"amount": "987654"},
        )
    else:
        post(
            url,
            "update",
            tool="salesforce",
            kind="opportunity",
            id=deal["record_id"],
            changes={"Amount": 987654},
        )
    post(url, "delete", tool="zendesk", kind="ticket", id=tickets[0])
    post(url, "update", tool="jira", kind="issue", id=keys[0], changes={"status": "Done"})
    post(
        url,
        "update",
        tool="zendesk",
        kind="ticket",
        id=tickets[-1],
        changes={"subject": f"Please ship {keys[-1]} soon"},
    )


def post(url: str, action: str, **body: Any) -> None:
    answer = requests.post(f"{url}/_sandbox/{action}", json=body, timeout=30)
    if answer.status_code >= 300:
        print(f"  world change {action} {body} answered {answer.status_code}", file=sys.stderr)


def store_state(database: Path) -> dict[str, Any]:
    db = sqlite3.connect(database)
    db.row_factory = sqlite3.Row
    state: dict[str, Any] = {}
    for table in TABLES:
        rows = [dict(r) for r in db.execute(f"SELECT * FROM {table}")]  # noqa: S608
        kept = [
            {k: _unpacked(v) for k, v in row.items() if not _a_time(k) and k not in SKIP}
            for row in rows
        ]
        state[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in kept)
    db.close()
    return state


def _unpacked(value: Any) -> Any:
    """A column holding JSON, without its times; other values as they are."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _timeless(json.loads(value))
        except ValueError:
            return value
    return value


def _a_time(column: str) -> bool:
    return column in TIMES or column.endswith("_at")


def jira_state(url: str) -> dict[str, Any]:
    api = f"{url}/jira/rest/api/3"
    issues: dict[str, Any] = {}
    token = None
    while True:
        params: dict[str, str | int] = {"jql": "project = ANA", "fields": "*all", "maxResults": 100}
        if token:
            params["nextPageToken"] = token
        page = requests.get(f"{api}/search/jql", params=params, auth=JIRA_AUTH, timeout=60).json()
        for issue in page["issues"]:
            fields = issue["fields"]
            key = issue["key"]
            comments = requests.get(
                f"{api}/issue/{key}/comment", params={"maxResults": 100}, auth=JIRA_AUTH, timeout=30
            ).json()["comments"]
            prop = requests.get(
                f"{api}/issue/{key}/properties/pmsync.demand", auth=JIRA_AUTH, timeout=30
            )
            issues[key] = {
                "fields": {
                    k: v
                    for k, v in fields.items()
                    if k.startswith("customfield_") and v is not None
                },
                "labels": sorted(fields.get("labels") or []),
                "status": (fields.get("status") or {}).get("name"),
                "comments": [json.dumps(c["body"], sort_keys=True) for c in comments],
                "property": _timeless(prop.json().get("value"))
                if prop.status_code == 200
                else None,
            }
        token = page.get("nextPageToken")
        if not token or page.get("isLast", True):
            return issues


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not _a_time(k)}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def writes(url: str) -> dict[str, int]:
    counts = requests.get(f"{url}/_sandbox/requests", timeout=30).json()
    return {
        f"{tool} {route}": n
        for tool, c in counts.items()
        for route, n in c["routes"].items()
        if not route.startswith("GET")
    }


def run_world(tree: Path, seed: int, faulty: bool, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True)
    database = work / "pmsync.db"
    options: dict[str, Any] = FAULTY if faulty else {}
    server = SandboxServer(seed=seed, now=NOW, **options).start()
    try:
        codes = sync_until_whole(tree, database, server.url, 4 if faulty else 1)
        move_world(server.url)
        codes += sync_until_whole(tree, database, server.url, 4 if faulty else 1)
        for args in (
            ("publish", "--sandbox", server.url),
            ("deadletters", "replay", "--sandbox", server.url),
        ):
            codes.append(pmsync(tree, database, *args).returncode)
        if faulty:  # the last reads and writes must not meet faults the other run did not
            requests.post(f"{server.url}/_sandbox/config", json={"faults": 0.0}, timeout=30)
            codes += sync_until_whole(tree, database, server.url, 1)
        state: dict[str, Any] = {"store": store_state(database), "jira": jira_state(server.url)}
        if not faulty:
            state["writes"] = writes(server.url)
        state["exit codes"] = codes
        # Both runs' sandboxes listen on their own ports; "Updated <minute>" is the clock's.
        text = json.dumps(state, sort_keys=True).replace(server.url, "SANDBOX")
        return json.loads(UPDATED.sub("Updated (time)", text))
    finally:
        server.stop()


def differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in new:
                yield f"{path}/{key}: only in old"
            elif key not in old:
                yield f"{path}/{key}: only in new"
            else:
                yield from differences(old[key], new[key], f"{path}/{key}")
    elif isinstance(old, list) and isinstance(new, list) and old != new:
        gone, came = (
            sorted(set(map(str, old)) - set(map(str, new))),
            sorted(set(map(str, new)) - set(map(str, old))),
        )
        yield f"{path}: {len(old)} vs {len(new)} rows; only old {gone[:2]}; only new {came[:2]}"
    elif old != new:
        yield f"{path}: {old!r} vs {new!r}"


def seeds(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="git revision or folder")
    parser.add_argument("--new", default=str(HERE), help="git revision or folder (this one)")
    parser.add_argument("--seeds", default="1-5", help="demo worlds, e.g. 1-5")
    parser.add_argument("--no-faulty", action="store_true", help="skip the faulty sandbox")
    args = parser.parse_args()
    worlds = [(s, False) for s in seeds(args.seeds)] + ([] if args.no_faulty else [(3, True)])
    failed = 0
    with checkout(args.old) as old, checkout(args.new) as new, tempfile.TemporaryDirectory() as t:
        for seed, faulty in worlds:
            name = f"seed {seed}" + (" faulty" if faulty else "")
            before = run_world(old, seed, faulty, Path(t) / "old" / name)
            after = run_world(new, seed, faulty, Path(t) / "new" / name)
            found = list(differences(before, after))
            rows = sum(len(v) for v in before["store"].values())
            summary = f"{rows} store rows, {len(before['jira'])} issues"
            codes = f"exit codes {before['exit codes']}"
            verdict = "same" if not found else "DIFFERENT"
            print(f"{name}: {verdict} ({summary}; {codes})", flush=True)
            for line in found[:20]:
                print(f"  {line[:400]}")
            failed += bool(found)
    print(f"{len(worlds) - failed} of {len(worlds)} worlds the same")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
