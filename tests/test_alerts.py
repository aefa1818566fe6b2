"""Alerts: with PMSYNC_ALERT_BLOCK naming a notification block, the automations exist on
the Prefect server, and a failed `sync` run sends the block's notification (here a custom
webhook block pointed at a local receiver), also a real sync in which one tool failed: its
run ends Failed naming the tool. Pays for a real Prefect server (~20 s)."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import requests
from processes import run_python

from tests.test_ops_prefect import sandbox_environment, wait_for
from tests.test_tool_failures import closed_port

ROOT = Path(__file__).parent.parent

SCRIPT = """
import sys
from prefect import flow
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from deployments.alerts import ensure_alerts, FAILED, STALE
from prefect.client.orchestration import get_client

CustomWebhookNotificationBlock(
    name="receiver", url=sys.argv[1], json_data={"text": "{{body}}"}, allow_private_urls=True
).save("ops-alerts", overwrite=True)
assert ensure_alerts("*/15 * * * *", "custom-webhook/ops-alerts") == [FAILED, STALE]
assert ensure_alerts("*/15 * * * *", "custom-webhook/ops-alerts") == [FAILED, STALE]
with get_client(sync_client=True) as client:
    found = {a.name: a for a in client.read_automations()}
    assert set(found) == {FAILED, STALE}, found
    assert found[STALE].trigger.within.total_seconds() == 3 * 15 * 60

@flow(name="sync")
def sync():
    raise RuntimeError("hubspot: credentials refused")

sync(return_state=True)
print("ran")
"""


def test_a_failed_sync_run_notifies_through_the_configured_block(
    tmp_path: Path, sandbox_url: str, store_url: str
) -> None:
    from deployments.local_server import LocalServer

    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    home = tmp_path / "prefect"
    old = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    try:
        server = LocalServer()
    finally:
        if old is None:
            os.environ.pop("PREFECT_HOME")
        else:
            os.environ["PREFECT_HOME"] = old
    try:
        env = dict(
            os.environ,
            PREFECT_API_URL=server.url,
            PREFECT_HOME=str(home),
            PYTHONPATH=str(ROOT),
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        done = run_python(
            "-c",
            SCRIPT,
            f"http://127.0.0.1:{http.server_port}/hook",
            env=env,
            timeout=240,
            cwd=None,
        )
        assert done.returncode == 0 and "ran" in done.stdout, done.stderr[-3000:]
        deadline = time.monotonic() + 90
        while not received and time.monotonic() < deadline:
            time.sleep(0.5)
        assert received, "no notification arrived"
        [note] = received
        assert "Failed" in note["text"] and "hubspot: credentials refused" in note["text"]

        # `pmsync sync` with HubSpot unreachable: the other tools' changes are published,
        # the command says which tool failed and exits 1, and the run is Failed in Prefect
        # (so the automation fires), its message naming the tool.
        env.update(sandbox_environment(sandbox_url), PMSYNC_DATABASE_URL=store_url)
        env["PMSYNC_HUBSPOT_URL"] = f"http://127.0.0.1:{closed_port()}/hubspot"
        done = run_python("-m", "pmsync", "sync", "--json", env=env, timeout=240)
        assert done.returncode == 1, done.stderr[-3000:]
        assert "failed hubspot" in done.stderr and "PMSYNC_HUBSPOT_URL" in done.stderr
        assert "Traceback" not in done.stderr
        result = json.loads(done.stdout)
        assert set(result["failed"]) == {"hubspot"} and result["pulled"]["zendesk"] > 0
        assert result["published"]["written"] > 0
        [run] = requests.post(
            f"{server.url}/flow_runs/filter",
            json={"sort": "START_TIME_DESC", "limit": 1},
            timeout=10,
        ).json()
        assert run["state_type"] == "FAILED", run["state"]
        assert run["state"]["message"].startswith("failed: hubspot (")
        assert run["state"]["message"].endswith("; the others' changes were published")

        def retries() -> list[str]:
            # Logged while pages are fetched ahead in another thread: still in the run's logs.
            found = requests.post(
                f"{server.url}/logs/filter",
                json={"logs": {"flow_run_id": {"any_": [run["id"]]}, "level": {"ge_": 30}}},
                timeout=10,
            ).json()
            return [log["message"] for log in found if "retry 1/" in log["message"]]

        assert wait_for("the retries in the run's logs", retries, 30)[0].startswith("hubspot: ")
        wait_for("the partial failure's notification", lambda: len(received) > 1, 90)
        assert "Failed" in received[1]["text"] and "failed: hubspot (" in received[1]["text"]
    finally:
        server.stop()
        http.shutdown()
