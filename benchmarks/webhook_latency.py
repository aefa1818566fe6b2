"""Webhook latency (issue 6): from the sandbox sending a webhook to the Jira issue showing
the new numbers, over N events; p50 and p95,

(a) in-process: `pmsync webhooks --mode inprocess`, the dispatcher calling the flow's core;
(b) through Prefect: `prefect server start` (its database on PostgreSQL: on SQLite, runs
    written concurrently make the server answer "database is locked" and the client back
    off for seconds), the handle-events deployment served in its own process as
    `pmsync serve` serves it (`deployments.serve.serve_flows`: a runner polling every
    `--runner-poll` seconds, default `deployments.serve.QUERY_SECONDS`, each run in a new
    Python), and `pmsync webhooks --mode prefect`, each batch a Prefect flow run in the
    receiver's process;
(c) `--mode deployment`: the same, but `pmsync webhooks --mode deployment` calls
    `run_deployment` and the served runner runs each batch.

Targets: p95 under 1 s in-process, under 5 s through Prefect (either way).

Every part runs in its own process, as in production: the sandbox (`pmsync sandbox`), the
receiver with its dispatcher (`pmsync webhooks`), the Prefect server and the served flow.
This script only drives the sandbox and watches Jira: each event is a customer opening a
ticket that cites an issue (`POST /_sandbox/activity {"kind": "open_ticket"}`); its
latency runs from the time the sandbox's log says the webhook was sent to the first moment
the issue's "Customer Requests" field shows one more request (polled every 10 ms). Events
go one at a time.

    .venv/bin/python benchmarks/webhook_latency.py [--events 100]
        [--mode both|inprocess|prefect|deployment] [--window 0.05] [--poll-interval 0.02]
        [--runner-poll S] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.settings import Settings  # noqa: E402
from deployments.serve import QUERY_SECONDS  # noqa: E402

BIN = Path(sys.executable).parent
AUTH = ("demo@example.com", "sandbox")
REQUESTS_FIELD = "customfield_10050"
SECRETS = (
    "jira_webhook_secret",
    "zendesk_webhook_secret",
    "hubspot_client_secret",
    "intercom_client_secret",
    "freshdesk_webhook_secret",
    "salesforce_webhook_secret",
)
PREFECT_MODES = ("prefect", "deployment")
SERVE = """
import sys

from deployments.serve import events_deployment, serve_flows

sandbox_url, database_url = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if sys.argv[3] != "default" else None
# What `pmsync serve` does, with only the handle-events deployment (no scheduled sync
# running in the middle of the measurement), pointed at this sandbox and store.
serve_flows(
    [events_deployment({"sandbox_url": sandbox_url, "database_url": database_url})],
    seconds=seconds,
    pause_on_shutdown=False,
)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(url: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up at {url} within {timeout:.0f}s")


def pmsync_env(sandbox_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """PMSYNC_* variables for pmsync pointed at the sandbox, webhook secrets included."""
    settings = Settings.for_sandbox(
        sandbox_url, database_url=database_url, **dict.fromkeys(SECRETS, "sandbox")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSYNC_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        elif isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"PMSYNC_{name.upper()}"] = str(value)
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Processes:
    """Child processes, stopped in reverse order; their output goes to files in `logs`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        out = (self.logs / f"{name}.log").open("wb")
        self.running.append(
            subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        )

    def stop(self) -> None:
        for process in reversed(self.running):
            process.terminate()
        for process in reversed(self.running):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.running.clear()


@contextlib.contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A fresh database on `server` (postgresql://user@host:port) for this run, dropped
    after; its SQLAlchemy URL for asyncpg, as the Prefect server wants it."""
    import psycopg

    name = f"pmsync_latency_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def prefect_server(
    processes: Processes, home: Path, database: str | None
) -> Iterator[dict[str, str]]:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    processes.start(
        "prefect-server",
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        home,
    )
    api = f"http://127.0.0.1:{port}/api"
    wait_until(f"{api}/health", 90, "the Prefect server")
    yield {"PREFECT_HOME": str(home), "PREFECT_API_URL": api}


def requests_on(sandbox: str, key: str) -> int:
    issue = requests.get(
        f"{sandbox}/jira/rest/api/3/issue/{key}",
        params={"fields": REQUESTS_FIELD},
        auth=AUTH,
        timeout=30,
    ).json()
    return int(issue["fields"].get(REQUESTS_FIELD) or 0)


def sent_at(sandbox: str, delivery_ids: list[str]) -> float | None:
    log = requests.get(f"{sandbox}/_sandbox/webhooks", timeout=30).json()["deliveries"]
    times = [e["sent_at"] for e in log if e["delivery_id"] in delivery_ids and e["sent_at"]]
    return min(times) if times else None


def counts(sandbox: str) -> dict[str, int]:
    """Every issue's request count, as Jira shows it now."""
    found: dict[str, int] = {}
    params: dict[str, Any] = {"jql": "project = ANA", "fields": REQUESTS_FIELD, "maxResults": 100}
    while True:
        page = requests.get(
            f"{sandbox}/jira/rest/api/3/search/jql", params=params, auth=AUTH, timeout=30
        ).json()
        for issue in page["issues"]:
            found[issue["key"]] = int(issue["fields"].get(REQUESTS_FIELD) or 0)
        if not page.get("nextPageToken"):
            return found
        params["nextPageToken"] = page["nextPageToken"]


def measure(sandbox: str, events: int, warmup: int, seed: int) -> list[float]:
    """Latencies of `events` new tickets, one at a time, after `warmup` unmeasured ones."""
    shown = counts(sandbox)
    latencies = []
    for n in range(warmup + events):
        change = requests.post(
            f"{sandbox}/_sandbox/activity",
            json={"kind": "open_ticket", "count": 1, "seed": seed + n},
            timeout=30,
        ).json()["changes"][0]
        key = change["issue_key"]
        shown[key] += 1
        deadline = time.monotonic() + 60
        while requests_on(sandbox, key) != shown[key]:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{key} never showed {shown[key]} requests (event {n}); see the logs "
                    "of the processes with --keep"
                )
            time.sleep(0.01)
        seen = time.time()
        sent = sent_at(sandbox, change["deliveries"])
        if sent is None:
            raise SystemExit(f"the sandbox logged no send time for event {n}")
        if n >= warmup:
            latencies.append(seen - sent)
    return latencies


def flow_run_phases(api: str) -> dict[str, float]:
    """Where a Prefect run's time goes (medians): created to running (the runner's poll,
    its subprocess, the engine's start) and running to done (the work)."""
    runs = requests.post(f"{api}/flow_runs/filter", json={"limit": 200}, timeout=30).json()

    def seconds(a: str | None, b: str | None) -> float | None:
        if not a or not b:
            return None
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    waits = [seconds(r["created"], r["start_time"]) for r in runs]
    works = [seconds(r["start_time"], r["end_time"]) for r in runs]
    return {
        "runs": len(runs),
        "created_to_running_p50_s": round(statistics.median(w for w in waits if w is not None), 3),
        "running_to_done_p50_s": round(statistics.median(w for w in works if w is not None), 3),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    processes = Processes(work)
    stack = contextlib.ExitStack()
    try:
        database = f"sqlite:///{work / 'pmsync.db'}"
        sandbox_port, hooks_port = free_port(), free_port()
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        processes.start(
            "sandbox",
            [str(BIN / "pmsync"), "sandbox", "--port", str(sandbox_port)],
            {**os.environ, "PYTHONPATH": str(ROOT)},
            work,
        )
        wait_until(f"{sandbox}/_sandbox/health", 60, "the sandbox")
        env = pmsync_env(sandbox, database)
        # The first sync, before webhooks are on: its writes need not come back.
        subprocess.run(
            [str(BIN / "pmsync"), "sync"], env=env, cwd=work, check=True, capture_output=True
        )
        extra: dict[str, str] = {}
        if mode in PREFECT_MODES:
            prefect_db = None
            if args.prefect_postgres:
                prefect_db = stack.enter_context(postgres_database(args.prefect_postgres))
            extra = stack.enter_context(prefect_server(processes, work / "prefect", prefect_db))
            serve_env = {**env, **extra}
            processes.start(
                "serve",
                [
                    sys.executable,
                    "-c",
                    SERVE,
                    sandbox,
                    database,
                    "default" if args.runner_poll is None else str(args.runner_poll),
                ],
                serve_env,
                ROOT,
            )
            deployment = f"{extra['PREFECT_API_URL']}/deployments/name/handle-events/handle-events"
            wait_until(deployment, 120, "the handle-events deployment")
        command = [
            str(BIN / "pmsync"),
            "webhooks",
            "--port",
            str(hooks_port),
            "--mode",
            mode,
            "--window",
            str(args.window),
            "--poll-interval",
            str(args.poll_interval),
        ]
        processes.start("webhooks", command, {**env, **extra}, work)
        wait_until(f"http://127.0.0.1:{hooks_port}/webhooks/health", 60, "pmsync webhooks")
        requests.post(
            f"{sandbox}/_sandbox/config",
            json={"webhook_url": f"http://127.0.0.1:{hooks_port}"},
            timeout=30,
        ).raise_for_status()
        latencies = measure(sandbox, args.events, args.warmup, args.seed)
        phases = flow_run_phases(extra["PREFECT_API_URL"]) if mode in PREFECT_MODES else {}
    finally:
        processes.stop()
        stack.close()
    return {
        "mode": mode,
        "events": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "mean_s": round(statistics.fmean(latencies), 3),
        "target_p95_s": 1.0 if mode == "inprocess" else 5.0,
        **({"prefect_runs": phases} if phases else {}),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "tuning": {
            "dispatcher_window_s": args.window,
            "dispatcher_poll_interval_s": args.poll_interval,
            **(
                {
                    "runner_query_seconds": args.runner_poll or QUERY_SECONDS,
                    "runs_start": "in the receiver" if mode == "prefect" else "served",
                    "prefect_database": "postgresql" if args.prefect_postgres else "sqlite",
                }
                if mode in PREFECT_MODES
                else {}
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mode", choices=("both", "inprocess", *PREFECT_MODES), default="both")
    parser.add_argument("--window", type=float, default=0.05, help="dispatcher window, s")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="inbox poll, s")
    parser.add_argument(
        "--runner-poll",
        type=float,
        default=None,
        help=f"served runner's query interval, s (default {QUERY_SECONDS}, as pmsync serve)",
    )
    parser.add_argument(
        "--prefect-postgres",
        metavar="URL",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server for the Prefect server's database ('' for SQLite)",
    )
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    modes = ("inprocess", "prefect") if args.mode == "both" else (args.mode,)
    results = []
    for mode in modes:
        work = Path(tempfile.mkdtemp(prefix=f"pmsync-latency-{mode}-"))
        try:
            results.append(run(mode, args, work))
        finally:
            if args.keep:
                print(f"logs in {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        verdict = "ok" if r["p95_s"] < r["target_p95_s"] else "MISSED"
        print(
            f"{r['mode']:>9}: {r['events']} events  p50 {r['p50_s']:.3f}s  "
            f"p95 {r['p95_s']:.3f}s  max {r['max_s']:.3f}s  "
            f"(target p95 < {r['target_p95_s']:.0f}s: {verdict})  tuning {r['tuning']}"
            + (f"  runs {r['prefect_runs']}" if "prefect_runs" in r else "")
        )


if __name__ == "__main__":
    main()
