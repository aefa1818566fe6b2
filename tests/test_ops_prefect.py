"""`pmsync serve` with no Prefect server configured, as ops run it: it keeps one local
Prefect server while it runs; a served run's pmsync lines are in that run's Prefect logs
(read back through Prefect's API), its tasks are named by tool, serve prints a line per
run, a `pmsync sync` meanwhile goes to the same server, and SIGTERM leaves nothing
running. The one test here that pays for a real Prefect server (~20 s to start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import processes
import requests
from processes import run_python

from connectors.settings import Settings

ROOT = Path(__file__).parent.parent


def sandbox_environment(url: str) -> dict[str, str]:
    """The PMSYNC_* variables that point every tool at the sandbox (`serve` reads only the
    environment)."""
    settings = Settings.for_sandbox(url)
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name.endswith(("_url", "_email", "_token", "_key", "_secret", "_id")) and value:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[f"PMSYNC_{name.upper()}"] = str(raw)
    env["PMSYNC_JIRA_PROJECTS"] = ",".join(settings.jira_projects)
    env["PMSYNC_RATE_BUDGET_SCOPE"] = "off"
    env["PMSYNC_LOOKBACK_MINUTES"] = "0"
    return env


def wait_for(what: str, check: Any, timeout: float = 240.0) -> Any:
    return processes.wait_for(what, check, timeout, interval=0.5)


def test_a_served_run_logs_to_prefect_and_serve_stops_cleanly(
    sandbox_url: str, store_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "prefect"
    env = dict(os.environ, **sandbox_environment(sandbox_url))
    env.update(
        PMSYNC_DATABASE_URL=store_url,
        PREFECT_HOME=str(home),
        PMSYNC_SYNC_CRON="0 0 1 1 *",  # no scheduled run in the way
        PYTHONUNBUFFERED="1",
    )
    env.pop("PREFECT_API_URL", None)
    out, errors = tmp_path / "serve.out", tmp_path / "serve.err"
    with open(out, "w") as stdout, open(errors, "w") as stderr:
        serve = subprocess.Popen(
            [sys.executable, "-m", "pmsync", "serve"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        state = home / "pmsync-server.json"
        wait_for("serve's local Prefect server", state.exists)
        recorded = json.loads(state.read_text())
        api = recorded["url"]
        wait_for("the runner", lambda: "Serving" in out.read_text())
        deployment = wait_for(
            "the sync-zendesk deployment",
            lambda: (
                requests.get(f"{api}/deployments/name/sync/sync-zendesk", timeout=10).ok
                and requests.get(f"{api}/deployments/name/sync/sync-zendesk", timeout=10).json()
            ),
        )

        def created() -> dict[str, Any] | None:
            # A Prefect server on SQLite answers 503 while its services start: ask again.
            answer = requests.post(
                f"{api}/deployments/{deployment['id']}/create_flow_run", json={}, timeout=10
            )
            return answer.json() if answer.status_code == 201 else None

        run = wait_for("a flow run of sync-zendesk", created, timeout=60)

        def finished() -> dict[str, Any] | None:
            found = requests.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()
            return found if found["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

        assert wait_for("the served run", finished)["state_type"] == "COMPLETED"

        def logged() -> list[dict[str, Any]]:
            # Prefect sends a run's logs in batches (every 2 s): they follow its end.
            found: list[dict[str, Any]] = requests.post(
                f"{api}/logs/filter",
                json={"logs": {"flow_run_id": {"any_": [run["id"]]}}, "sort": "TIMESTAMP_ASC"},
                timeout=10,
            ).json()
            return found if any("published" in log["message"] for log in found) else []

        logs = wait_for("the run's logs", logged, timeout=30)
        lines = [(log["level"], log["message"]) for log in logs]
        assert any(
            level == 20 and message.startswith("zendesk: ") and "records pulled" in message
            for level, message in lines
        ), lines
        assert any(level == 20 and message.startswith("published: ") for level, message in lines)
        assert not any("HTTP Request" in message for _, message in lines)  # httpx's lines
        secret = Settings.for_sandbox(sandbox_url).zendesk_api_token
        assert secret is not None
        assert not any(secret.get_secret_value() in message for _, message in lines)
        tasks = requests.post(
            f"{api}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [run["id"]]}}},
            timeout=10,
        ).json()
        assert {"pull-zendesk", "link", "sum", "publish"} <= {t["name"] for t in tasks}
        said = wait_for(
            "serve's end-of-run line", lambda: " ok in " in out.read_text() and out.read_text()
        )
        assert f"sync-zendesk {run['name']} started" in said
        assert f"sync-zendesk {run['name']} ok in " in said and "pulled " in said

        # A CLI sync while serve runs goes to the same server, its lines too.
        def pmsync(*args: str) -> str:
            done = run_python("-m", "pmsync", *args, env=env, timeout=180)
            assert done.returncode == 0, done.stderr
            return done.stdout

        where = json.loads(pmsync("status", "--json"))["prefect"]
        assert where["mode"] == "prefect" and where["url"] == api
        assert f"pid {recorded['pid']}" in where["detail"]
        pmsync("sync", "--json")
        [cli_run] = requests.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"deployment_id": {"is_null_": True}}},
            timeout=10,
        ).json()
        run = cli_run
        assert any(log["message"].startswith("jira: ") for log in wait_for("logs", logged, 30))
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    assert serve.returncode == 0, errors.read_text()[-2000:]
    assert "Traceback" not in errors.read_text()
    assert not state.exists()
    try:
        os.kill(recorded["pid"], 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("the local Prefect server outlived serve")
