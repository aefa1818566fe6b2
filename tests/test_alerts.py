"""Alerts: with PMSYNC_ALERT_BLOCK naming a notification block, the automations exist on
the Prefect server, and a failed `sync` run sends the block's notification (here a custom
webhook block pointed at a local receiver). Pays for a real Prefect server (~20 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

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


def test_a_failed_sync_run_notifies_through_the_configured_block(tmp_path: Path) -> None:
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
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, f"http://127.0.0.1:{http.server_port}/hook"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0 and "ran" in done.stdout, done.stderr[-3000:]
        deadline = time.monotonic() + 90
        while not received and time.monotonic() < deadline:
            time.sleep(0.5)
        assert received, "no notification arrived"
        [note] = received
        assert "Failed" in note["text"] and "hubspot: credentials refused" in note["text"]
    finally:
        server.stop()
        http.shutdown()
