"""Scale-out on this machine's PostgreSQL: a Prefect server on PostgreSQL, a process work
pool with two workers, a HubSpot backfill split into two deployment runs that the two
workers take at the same time, the store on PostgreSQL. The store ends equal to a
single-process backfill's, and HubSpot's rate budget holds across both workers through
pmsync's Prefect global concurrency limits (the sandbox enforces HubSpot's real search
limit, 5 a second, and logs every 429).

Everything the test starts (server, workers, sandbox, databases) is stopped and dropped
in `finally`, process groups included. About a minute."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select, text

from connectors.settings import Settings
from flows.backfill import parse_window, run_backfill
from flows.budgets import ensure_prefect_limits
from flows.check import run_checks
from flows.pipeline import pull_source
from pmsync.status_cmd import status_report
from services.demand import demand
from services.links import link_all
from services.publish import publish_all
from store import Store
from store.schema import records
from tests.postgres import postgres_schema

POSTGRES_URL = os.environ.get("PMSYNC_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PMSYNC_TEST_POSTGRES_URL not set: the scale-out test needs PostgreSQL for the "
    "Prefect server and the store",
)

ROOT = Path(__file__).parent.parent
PREFECT = Path(sys.executable).parent / "prefect"
POOL = "pmsync-scale-out"
SINCE, MIDDLE, UNTIL = "2024-01-01", "2025-06-08", "2026-12-01"  # MIDDLE: a window edge
WINDOW = "30d"
BUDGET = 2.0  # HubSpot requests a second, shared by both workers
SEARCH_LIMIT = 5  # HubSpot's CRM search limit: 5 a second, rolling (sandbox.limits)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process_group(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A process in a session of its own, killed with all its children on the way out."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on the test server, dropped afterwards (connections and all)."""
    assert POSTGRES_URL
    name = f"pmsync_prefect_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store_schema(label: str) -> AbstractContextManager[str]:
    """A store URL whose tables live in a schema of their own, dropped afterwards."""
    return postgres_schema(f"pmsync_{label}")


def wait_until(what: str, ready: Any, timeout: float, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def healthy(api: str) -> bool:
    try:
        return requests.get(f"{api}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def store_state(store: Store) -> dict[str, Any]:
    """What the two runs must agree on: records, links, and the demand published."""
    with store.engine.connect() as conn:
        stored = {
            (row.source, row.kind, row.record_id): row.payload
            for row in conn.execute(select(records))
        }
    return {
        "records": stored,
        "links": [link.model_dump() for link in store.links.all()],
        # When the managed comment was written, and Jira's time for it ("comment"."at",
        # "updated", "since"), is no demand: it differs from run to run.
        "demand": {
            key: {
                **entry.summary,
                "comment": {
                    k: v
                    for k, v in entry.summary.get("comment", {}).items()
                    if k not in ("at", "updated", "since")
                },
            }
            for key, entry in store.ledger.entries().items()
        },
    }


def busiest(samples: list[tuple[float, int]], seconds: float) -> int:
    """The most requests the sandbox counted in any `seconds` of the samples."""
    most = 0
    for i, (start, count) in enumerate(samples):
        later = [c for t, c in samples[i:] if t - start <= seconds]
        most = max(most, later[-1] - count)
    return most


def test_a_backfill_split_over_two_workers_ends_like_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promise to a company that outgrows one machine: more workers, the same store,
    and the vendors' limits still respected (a budget per process would double the rate
    HubSpot sees, and its search limit would answer 429)."""
    from sandbox.server import start_sandbox

    with ExitStack() as stack:
        sandbox = start_sandbox(seed=7, rate_limits="real")
        stack.callback(sandbox.stop)
        split_url = stack.enter_context(store_schema("split"))
        single_url = stack.enter_context(store_schema("single"))
        prefect_db = stack.enter_context(postgres_database())
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        base_env = {
            **os.environ,
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        (tmp_path / "prefect").mkdir()
        server_env = {
            **base_env,
            "PREFECT_API_DATABASE_CONNECTION_URL": (
                f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_db}"
            ),
        }
        stack.enter_context(
            process_group(
                [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                server_env,
                tmp_path / "server.log",
            )
        )
        wait_until("the Prefect server", lambda: healthy(api), timeout=90, poll=0.5)

        # Both stores start with the Jira issues, so that relinking has deals to link.
        settings = Settings.for_sandbox(sandbox.url, database_url=split_url)
        single_settings = Settings.for_sandbox(sandbox.url, database_url=single_url)
        for url_settings in (settings, single_settings):
            pull_source(
                url_settings, Store(url_settings.database_url, upgrade=True), "jira", full=True
            )
        worker_settings = settings.model_copy(
            update={"rate_budget_scope": "prefect", "rate_budgets": (f"hubspot:{BUDGET}",)}
        )

        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api}):
            ensure_prefect_limits(worker_settings)
            deployment_id = deploy_backfill_parts()

        worker_env = {
            **base_env,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "PMSYNC_DATABASE_URL": split_url,
            "PMSYNC_HUBSPOT_URL": f"{sandbox.url}/hubspot",
            "PMSYNC_HUBSPOT_ACCESS_TOKEN": "sandbox",
            "PMSYNC_RATE_BUDGET_SCOPE": "prefect",
            "PMSYNC_RATE_BUDGETS": f"hubspot:{BUDGET}",
            "PMSYNC_LOOKBACK_MINUTES": "0",
        }
        worker_logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
        for n, log in enumerate(worker_logs, 1):
            stack.enter_context(
                process_group(
                    [str(PREFECT), "worker", "start", "--pool", POOL, "--limit", "1"]
                    + ["--name", f"worker-{n}", "--type", "process"],
                    worker_env,
                    log,
                )
            )
        requests.delete(f"{sandbox.url}/_sandbox/ratelimits", timeout=10)
        requests.delete(f"{sandbox.url}/_sandbox/requests", timeout=10)

        started = time.monotonic()
        with temporary_settings(updates={PREFECT_API_URL: api}):
            runs = start_parts(deployment_id)
            samples = wait_for_runs(runs, sandbox.url, timeout=120)
        split_s = time.monotonic() - started

        # Relink and publish once, after the last part (what `pmsync publish` does).
        requests.post(f"{sandbox.url}/_sandbox/config", json={"rate_limits": "off"}, timeout=10)
        split = Store(split_url, upgrade=True)
        link_all(settings, split)
        publish_all(settings, split, demand(settings, split))

        single = Store(single_url, upgrade=True)
        result = run_backfill(
            single_settings,
            single,
            "hubspot",
            datetime.fromisoformat(SINCE).replace(tzinfo=UTC),
            datetime.fromisoformat(UNTIL).replace(tzinfo=UTC),
            parse_window(WINDOW),
        )

        assert result.status == "done" and result.records > 50
        assert store_state(split) == store_state(single)
        assert store_state(split)["links"], "deals link to issues: relinking did something"
        # Two workers, each one run, at the same time.
        ran_by = {run_id: ran_it(worker_logs, run_id) for run_id in runs}
        assert sorted(n for found in ran_by.values() for n in found) == [1, 2], ran_by
        # HubSpot's budget held across both workers: no 429, and never more requests in a
        # few seconds than one budget allows (a bucket of BUDGET plus BUDGET a second).
        throttled = requests.get(f"{sandbox.url}/_sandbox/ratelimits", timeout=10).json()
        assert throttled["by_tool"].get("hubspot", 0) == 0, throttled
        assert throttled["violations"] == []
        total = samples[-1][1] - samples[0][1]
        assert total > 40, "the parts made too few requests to test a budget"
        assert busiest(samples, 5.0) <= BUDGET * 5 + BUDGET + 2
        assert busiest(samples, 1.0) <= SEARCH_LIMIT
        print(f"split backfill over two workers: {split_s:.1f}s, {total} HubSpot requests")

        # `pmsync status` lists the next scheduled runs when a server is set.
        monkeypatch.setenv("PREFECT_API_URL", api)
        with temporary_settings(updates={PREFECT_API_URL: api}):
            schedule_a_run(deployment_id)
            schedule = status_report(split)["schedule"]
        assert [run["deployment"] for run in schedule["next_runs"]] == ["backfill/backfill-part"]

        # `pmsync check` finds the server and the limits the budgets need, or names the
        # one missing (every call of a run would fail on it).
        with temporary_settings(updates={PREFECT_API_URL: api}):
            fine = {c.name: c for c in run_checks(worker_settings)}["prefect"]
            jira_too = worker_settings.model_copy(
                update={"rate_budgets": (f"hubspot:{BUDGET}", "jira:9")}
            )
            missing = {c.name: c for c in run_checks(jira_too)}["prefect"]
        assert fine.ok and "rate limits in place" in fine.detail, fine
        assert not missing.ok and "pmsync-rate-jira" in missing.detail, missing


def ran_it(worker_logs: list[Path], run_id: Any) -> list[int]:
    """The workers that ran a flow run: both may try to submit it, the server lets one."""
    return [
        n
        for n, log in enumerate(worker_logs, 1)
        if f"submitting flow run '{run_id}'" in (text := log.read_text())
        and f"Aborted submission of flow run '{run_id}'" not in text
    ]


def deploy_backfill_parts() -> Any:
    """The `backfill-part` deployment on a process pool, its code from this checkout."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.backfill import backfill

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
    flow = backfill.from_source(source=str(ROOT), entrypoint="flows/backfill.py:backfill")
    return flow.deploy(  # type: ignore[union-attr]
        name="backfill-part",
        work_pool_name=POOL,
        parameters={"relink": False},
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,
    )


def schedule_a_run(deployment_id: Any) -> None:
    """A run of the deployment scheduled for tomorrow (no worker takes it before)."""
    from datetime import timedelta

    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with get_client(sync_client=True) as client:
        client.create_flow_run_from_deployment(
            deployment_id,
            parameters={"source": "hubspot", "since": SINCE, "window": WINDOW},
            state=Scheduled(scheduled_time=tomorrow),
        )


def start_parts(deployment_id: Any) -> list[Any]:
    """One flow run per date range of the backfill, created at once."""
    from prefect.client.orchestration import get_client

    parts = [(SINCE, MIDDLE), (MIDDLE, UNTIL)]
    with get_client(sync_client=True) as client:
        return [
            client.create_flow_run_from_deployment(
                deployment_id,
                parameters={"source": "hubspot", "since": since, "until": until, "window": WINDOW},
            ).id
            for since, until in parts
        ]


def wait_for_runs(runs: list[Any], sandbox_url: str, timeout: float) -> list[tuple[float, int]]:
    """Wait for the runs to finish, sampling the sandbox's HubSpot request count."""
    from prefect.client.orchestration import get_client

    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            counts = requests.get(f"{sandbox_url}/_sandbox/requests", timeout=10).json()
            samples.append((time.monotonic(), counts["hubspot"]["total"]))
            states = [client.read_flow_run(run).state for run in runs]
            if all(state is not None and state.is_final() for state in states):
                break
            assert time.monotonic() < deadline, f"runs not finished: {states}"
            time.sleep(0.25)
    assert all(state is not None and state.is_completed() for state in states), states
    with get_client(sync_client=True) as client:
        spans = [(run.start_time, run.end_time) for run in map(client.read_flow_run, runs)]
    assert max(start for start, _ in spans) < min(end for _, end in spans), "ran one by one"
    return samples
