"""Stopping pmsync's long-running commands with SIGTERM (what systemd, Docker and
Kubernetes send) or Ctrl-C: each ends without a traceback and leaves no process behind,
and a sync stopped mid-pull leaves a store the next sync completes exactly.

(`pmsync serve` is stopped the same way in tests/test_ops_prefect.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import processes
import requests

from connectors.settings import Settings
from flows.pipeline import run_cycle
from store import Store

ROOT = Path(__file__).parent.parent


def start(args: list[str], tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], Path]:
    out = tmp_path / f"{args[0]}.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pmsync", *args],
        cwd=tmp_path,  # `demo` keeps its store under ./.pmsync
        env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **env),
        stdout=open(out, "w"),  # noqa: SIM115  (closed with the process)
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, out


def wait_for(what: str, check: Any, timeout: float = 120.0) -> Any:
    return processes.wait_for(what, check, timeout, interval=0.2)


def stop(process: subprocess.Popen[str], out: Path, how: int = signal.SIGTERM) -> str:
    process.send_signal(how)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"did not stop: {out.read_text()[-2000:]}") from None
    said = out.read_text()
    assert "Traceback" not in said, said
    return said


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


def test_a_sync_stopped_mid_pull_leaves_a_store_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    """SIGTERM while pages are coming (every answer slowed): exit 130 with a line saying
    what is kept, the run recorded as failed (not left `running`), and the next sync ends
    with exactly the records an uninterrupted sync stores: no page skipped by a cursor
    that moved without its records."""
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7) as sandbox:
        slow = {"faults": 1.0, "fault_kinds": {"slow": 1.0}, "fault_max_delay": 0.4}
        requests.post(f"{sandbox.url}/_sandbox/config", json=slow, timeout=10).raise_for_status()
        url = f"sqlite:///{tmp_path / 'stopped.db'}"
        sync, out = start(["sync", "--sandbox", sandbox.url], tmp_path, PMSYNC_DATABASE_URL=url)
        wait_for(
            "a first page stored",
            lambda: (
                Path(tmp_path / "stopped.db").exists() and Store(url, upgrade=True).cursors.all()
            ),
        )
        said = stop(sync, out)
        assert sync.returncode == 130 and "stopped" in said, said
        store = Store(url, upgrade=True)
        assert store.runs.last(1)[0]["outcome"] == "failed"

        requests.post(f"{sandbox.url}/_sandbox/config", json={"faults": 0.0}, timeout=10)
        settings = Settings.for_sandbox(sandbox.url, database_url=url)
        run_cycle(settings, store)
        clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
        clean = Store(clean_url, upgrade=True)
        run_cycle(Settings.for_sandbox(sandbox.url, database_url=clean_url), clean)
        assert store.records.count() == clean.records.count()


def test_demo_serve_stops_on_sigterm_and_on_ctrl_c(tmp_path: Path) -> None:
    """`pmsync demo --serve` stops on SIGTERM and on Ctrl-C (SIGINT) with no traceback,
    and its sandbox stops answering."""
    for how in (signal.SIGTERM, signal.SIGINT):
        demo, out = start(["demo", "--serve"], tmp_path)
        said = wait_for(
            "the demo's sandbox",
            lambda out=out: "until Ctrl-C" in out.read_text() and out.read_text(),
        )
        sandbox = said.split("Sandbox running at ")[1].split()[0]
        assert answers(f"{sandbox}/_sandbox/health")
        stop(demo, out, how)
        assert demo.returncode == 0
        assert not answers(f"{sandbox}/_sandbox/health")


def test_webhooks_stops_on_sigterm(tmp_path: Path) -> None:
    """`pmsync webhooks` (receiver and dispatcher) stops on SIGTERM: exit 0, no
    traceback, its port free again."""
    port = free_port()
    receiver, out = start(
        ["webhooks", "--port", str(port), "--mode", "inprocess"],
        tmp_path,
        PMSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'hooks.db'}",
    )
    wait_for("the receiver", lambda: answers(f"http://127.0.0.1:{port}/webhooks/health"))
    stop(receiver, out)
    assert receiver.returncode == 0
    assert not answers(f"http://127.0.0.1:{port}/webhooks/health")
