"""A sync at scale (`make bench`): the sandbox's world at `--scale 100` (about 4,000
issues, 30,000 feedback items and 8,000 deals); a full sync; an incremental sync, which
re-reads the Jira issues the full sync's publishing edited (pmsync's own change); then 1% of
the issues, feedback items and deals are changed through the sandbox (issues moved on or
to Done, tickets solved, deals moved in stage and amount) and an incremental sync runs.

For each sync: wall time, each step's time and the peak RSS after it; requests per tool
(the sandbox's GET /_sandbox/requests) next to the fewest a full pull could make
(ceil(records / largest page) of the main stream, plus Jira's id sweep; account listings
not counted); and the pulls' time against the floor: the very requests the pulls sent,
replayed by a bare loop of `requests` calls that reads and decodes each answer. The
sandbox serves from its own process and each sync runs in a fresh interpreter, so the
figures are pmsync's alone.

    .venv/bin/python benchmarks/sync_scale.py [--scale 100] [--seed 7] [--pull-only]
        [--json PATH] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


Sent = tuple[str, str, dict[str, str], bytes | None]


class Recorder:
    """Keeps every request this process sends while `on` (the floor replays them)."""

    def __init__(self) -> None:
        self.on = False
        self.sent: list[Sent] = []
        send = requests.Session.send

        def recording(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            if self.on:
                body = request.body.encode() if isinstance(request.body, str) else request.body
                self.sent.append((request.method, request.url, dict(request.headers), body))
            return send(session, request, **kwargs)

        requests.Session.send = recording  # type: ignore[method-assign,assignment]


def run_sync(
    url: str, database: str, full: bool, pull_only: bool, profile: str | None, conn: Connection
) -> None:
    """One sync in this (fresh) process; sends back its timings, the peak RSS after each
    step, and the requests its pulls made. With `profile`, cProfile's figures for the sync
    are written to that file (`python -m pstats FILE`)."""
    import cProfile

    from connectors import registry
    from connectors.settings import Settings
    from flows.pipeline import pull_source, run_cycle
    from store import Store

    settings = Settings.for_sandbox(url, database_url=database)
    store = Store(database, upgrade=True)
    steps: dict[str, float] = {}
    peaks: dict[str, float] = {}
    recorder = Recorder()

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            pulling = fn is pull_source
            recorder.on = pulling
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                name = fn.__name__ if not pulling else f"pull {args[2]}"
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - started
                peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                recorder.on = False

        return run

    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    if pull_only:
        for source in registry.configured(settings):
            timed(pull_source)(settings, store, source, full)
        result: dict[str, Any] = {"pulled": store.records.count()}
    else:
        result = run_cycle(settings, store, full=full, step=timed).as_dict()
    wall = time.perf_counter() - started
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send(
        {
            "wall_s": wall,
            "steps": steps,
            "peaks": peaks,
            "result": result,
            "peak_rss_mib": peak_kib / 1024,
            "pull_s": sum(v for k, v in steps.items() if k.startswith("pull ")),
            "sent": recorder.sent,
        }
    )


def floor(sent: list[Sent]) -> dict[str, float]:
    """The same requests again from a bare loop of `requests` calls, one after another,
    each body read in full and decoded (`.json()`, as any loop that pages must): what the
    pulls would cost with no work between requests. Seconds per tool (the sandbox serves
    each under /<tool>)."""
    session = requests.Session()
    spent: dict[str, float] = {}
    for method, url, headers, body in sent:
        tool = urlsplit(url).path.split("/")[1]
        started = time.perf_counter()
        answer = session.request(method, url, headers=headers, data=body, timeout=120)
        if answer.headers.get("content-type", "").startswith("application/json"):
            answer.json()
        else:
            answer.content  # noqa: B018  (read the whole body, as a pull does)
        spent[tool] = spent.get(tool, 0.0) + time.perf_counter() - started
    return spent


def change_one_percent(url: str, world: Any, seed: int) -> dict[str, int]:
    """Change 1% of the issues, feedback items and deals the way people do: issues move
    on (or to Done), tickets are solved, deals move stage and amount."""
    rng = random.Random(seed)
    changes: list[dict[str, Any]] = []
    for issue in rng.sample(world.issues, max(1, len(world.issues) // 100)):
        status = rng.choice(["In Progress", "Done"])
        changes.append(
            {"tool": "jira", "kind": "issue", "id": issue.key, "changes": {"status": status}}
        )
    solved = {
        "zendesk": {"status": "solved"},
        "freshdesk": {"status": 4},
        "intercom": {"state": "closed"},
    }
    kinds = {"zendesk": "ticket", "freshdesk": "ticket", "intercom": "conversation"}
    for item in rng.sample(world.feedback, max(1, len(world.feedback) // 100)):
        changes.append(
            {
                "tool": item.tool,
                "kind": kinds[item.tool],
                "id": item.id,
                "changes": solved[item.tool],
            }
        )
    for deal in rng.sample(world.deals, max(1, len(world.deals) // 100)):
        amount = deal.amount + rng.choice([-1, 1]) * 1000
        if deal.crm == "hubspot":
            moved = {"amount": amount, "dealstage": rng.choice(["contractsent", "closedwon"])}
            changes.append({"tool": "hubspot", "kind": "deal", "id": deal.id, "changes": moved})
        else:
            moved = {
                "Amount": amount,
                "StageName": rng.choice(["Negotiation/Review", "Closed Won"]),
            }
            changes.append(
                {"tool": "salesforce", "kind": "opportunity", "id": deal.id, "changes": moved}
            )
    counts: dict[str, int] = {}
    with requests.Session() as session:
        for change in changes:
            answer = session.post(f"{url}/_sandbox/update", json=change, timeout=60)
            answer.raise_for_status()
            counts[change["tool"]] = counts.get(change["tool"], 0) + 1
    return counts


# Children start as fresh interpreters: forked ones would count the parent's pages (the
# generated world) in their RSS.
SPAWN = mp.get_context("spawn")


def in_child(target: Callable[..., None], *args: Any) -> Any:
    parent, child = SPAWN.Pipe()
    process = SPAWN.Process(target=target, args=(*args, child))
    process.start()
    answer = parent.recv()
    process.join()
    return answer


def requests_by_tool(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/_sandbox/requests", timeout=60).json()


def report(
    name: str, run: dict[str, Any], counted: dict[str, Any], minimum: dict[str, int]
) -> dict[str, Any]:
    by_tool = floor(run["sent"])
    floor_s = sum(by_tool.values())
    ratio = run["pull_s"] / floor_s if floor_s else float("nan")
    print(f"\n== {name}: {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mib']:.0f} MiB")
    print(
        f"   pulls {run['pull_s']:.1f} s for {len(run['sent'])} requests; the same requests "
        f"from a bare loop {floor_s:.1f} s: {ratio:.2f}x the floor"
    )
    print(
        "   per tool, pull / floor: "
        + ", ".join(
            f"{tool} {run['steps'].get(f'pull {tool}', 0):.1f}/{seconds:.1f} s"
            for tool, seconds in sorted(by_tool.items())
        )
    )
    for step, seconds in sorted(run["steps"].items(), key=lambda s: -s[1]):
        print(f"   {step:<22} {seconds:8.1f} s   peak RSS after {run['peaks'][step]:5.0f} MiB")
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
    return {
        "wall_s": round(run["wall_s"], 2),
        "pull_s": round(run["pull_s"], 2),
        "floor_s": round(floor_s, 2),
        "pull_over_floor": round(ratio, 2),
        "peak_rss_mib": round(run["peak_rss_mib"]),
        "requests": {tool: c["total"] for tool, c in counted.items()},
        "writes": {tool: c["writes"] for tool, c in counted.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pull-only", action="store_true", help="pull every tool, no link/publish")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="write each sync's cProfile figures to DIR/{full,no-change,one-percent}.prof",
    )
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

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

    parent, child = SPAWN.Pipe()
    sandbox = SPAWN.Process(target=serve_sandbox, args=(args.seed, args.scale, child), daemon=True)
    sandbox.start()
    url = parent.recv()
    figures: dict[str, Any] = {"scale": args.scale, "seed": args.seed, "records": by_tool}
    try:
        with tempfile.TemporaryDirectory() as folder:
            database = f"sqlite:///{folder}/pmsync.db"
            syncs = (
                ("full", True, "full"),
                ("incremental, no change", False, "no-change"),
                ("1%", False, "one-percent"),
            )
            for name, full, label in syncs:
                profile = str(Path(args.profile) / f"{label}.prof") if args.profile else None
                if name == "1%":
                    changed = change_one_percent(url, world, args.seed)
                    name = f"incremental after 1% changed ({json.dumps(changed)})"
                requests.delete(f"{url}/_sandbox/requests", timeout=60)
                run = in_child(run_sync, url, database, full, args.pull_only, profile)
                figures[name] = report(name, run, requests_by_tool(url), minimum)
    finally:
        parent.send("stop")
        sandbox.join(10)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
