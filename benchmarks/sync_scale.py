"""A sync at scale: the sandbox's world at `--scale 100` (about 4,000 issues, 30,000
feedback items and 8,000 deals), a full sync, then incremental syncs with nothing changed.

For each run: wall time and the time of each step (each tool's pull, linking, demand,
publishing), requests per tool (the sandbox's GET /_sandbox/requests) next to the fewest a
full pull could make (ceil(records / largest page) of the main stream, plus Jira's id
sweep; account listings not counted), the busiest routes, and the
peak RSS of the process that ran it. The sandbox serves from its own process, and each
sync runs in a fresh one, so the figures are pmsync's alone.

The first incremental run re-reads the Jira issues the full run's publishing edited (that
is a change, made by pmsync); the second one sees no change at all.

    .venv/bin/python benchmarks/sync_scale.py [--scale 100] [--seed 7] [--pull-only]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Streams a pull reads, with the largest page each API serves: the floor of requests.
LARGEST_PAGE = {
    "jira": 100,  # /search/jql with fields (5,000 for ids alone: the sweep)
    "zendesk": 1000,  # incremental export
    "intercom": 150,  # conversations search
    "freshdesk": 100,
    "hubspot": 200,  # deals search
    "salesforce": 2000,
}


def serve_sandbox(seed: int, scale: int, conn: Connection) -> None:
    from sandbox.server import start_sandbox

    server = start_sandbox(seed=seed, scale=scale)
    conn.send(server.url)
    conn.recv()  # until the parent is done
    server.stop()


def run_sync(url: str, database: str, full: bool, pull_only: bool, conn: Connection) -> None:
    """One sync in this (fresh) process; sends back its timings and peak RSS."""
    from flows.pipeline import pull_source, run_cycle
    from models import Settings
    from store import Store

    settings = Settings.for_sandbox(url, database_url=database)
    store = Store(database)
    steps: dict[str, float] = {}

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                name = fn.__name__ if fn is not pull_source else f"pull {args[2]}"
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - started

        return run

    started = time.perf_counter()
    if pull_only:
        for source in settings.sources:
            timed(pull_source)(settings, store, source, full)
        result: dict[str, Any] = {"pulled": store.count_records()}
    else:
        result = run_cycle(settings, store, full=full, step=timed).as_dict()
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send({"wall_s": wall, "steps": steps, "result": result, "peak_rss_mib": peak_kib / 1024})


def in_child(target: Callable[..., None], *args: Any) -> Any:
    parent, child = mp.Pipe()
    process = mp.Process(target=target, args=(*args, child))
    process.start()
    answer = parent.recv()
    process.join()
    return answer


def requests_by_tool(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/_sandbox/requests", timeout=60).json()


def report(
    name: str, run: dict[str, Any], counted: dict[str, Any], minimum: dict[str, int]
) -> None:
    print(f"\n== {name}: {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mib']:.0f} MiB")
    for step, seconds in sorted(run["steps"].items(), key=lambda s: -s[1]):
        print(f"   {step:<22} {seconds:8.1f} s")
    print(f"   {'tool':<11} {'requests':>9} {'writes':>7} {'full floor':>11}   busiest routes")
    for tool, counts in counted.items():
        if not counts["total"]:
            continue
        routes = sorted(counts["routes"].items(), key=lambda r: -r[1])[:3]
        busiest = ", ".join(f"{route} x{n}" for route, n in routes)
        print(
            f"   {tool:<11} {counts['total']:>9} {counts['writes']:>7} "
            f"{minimum.get(tool, 0):>11}   {busiest}"
        )
    print(f"   result: {json.dumps(run['result'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pull-only", action="store_true", help="pull every tool, no link/publish")
    args = parser.parse_args()

    from sandbox.world import generate

    started = time.perf_counter()
    world = generate(seed=args.seed, scale=args.scale)
    by_tool: dict[str, int] = {}
    for item in world.feedback:
        by_tool[item.tool] = by_tool.get(item.tool, 0) + 1
    for deal in world.deals:
        by_tool[deal.crm] = by_tool.get(deal.crm, 0) + 1
    by_tool["jira"] = len(world.issues)
    # The main stream's pages; Jira adds its id sweep (5,000 ids a page).
    minimum = {tool: math.ceil(n / LARGEST_PAGE[tool]) for tool, n in by_tool.items()}
    minimum["jira"] += math.ceil(by_tool["jira"] / 5000)
    print(
        f"world seed {args.seed} scale {args.scale}: {len(world.issues)} issues, "
        f"{len(world.feedback)} feedback, {len(world.deals)} deals, "
        f"{len(world.accounts)} accounts (generated in {time.perf_counter() - started:.1f} s)"
    )
    del world

    parent, child = mp.Pipe()
    sandbox = mp.Process(target=serve_sandbox, args=(args.seed, args.scale, child), daemon=True)
    sandbox.start()
    url = parent.recv()
    try:
        with tempfile.TemporaryDirectory() as folder:
            database = f"sqlite:///{folder}/pmsync.db"
            for name, full in (("full", True), ("incremental 1", False), ("incremental 2", False)):
                requests.delete(f"{url}/_sandbox/requests", timeout=60)
                run = in_child(run_sync, url, database, full, args.pull_only)
                report(name, run, requests_by_tool(url), minimum)
    finally:
        parent.send("stop")
        sandbox.join(10)


if __name__ == "__main__":
    main()
