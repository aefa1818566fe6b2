"""The one local Prefect server pmsync keeps when no PREFECT_API_URL is set.

`pmsync serve` (and `python -m deployments.serve`) start it under `PREFECT_HOME` and record
its URL and process in `pmsync-server.json` there; CLI calls that find it alive send their
flow runs to it (pmsync.runtime). It lives in its own process group and stops with serve:
nothing is left running after serve ends, whatever stopped it (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_FILE = "pmsync-server.json"


def prefect_home() -> Path:
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    # Prefect creates its home without parents, then fails to open its database.
    home.mkdir(parents=True, exist_ok=True)
    return home


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(url: str, timeout: float = 2.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def local_server() -> dict[str, Any] | None:
    """The local server `pmsync serve` keeps, when its process is alive and answers."""
    path = prefect_home() / STATE_FILE
    try:
        state = json.loads(path.read_text())
        pid, url = int(state["pid"]), str(state["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _alive(pid) and _healthy(url):
        return dict(state)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """A `prefect server start` child in its own process group, recorded for later calls
    while it lives; `stop` ends the group (its uvicorn and services) and the record."""

    def __init__(self, timeout: float = 120.0) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        home = prefect_home()
        env = dict(os.environ, PREFECT_HOME=str(home))
        env.pop("PREFECT_API_URL", None)
        # The UI asks the API at PREFECT_UI_API_URL, which Prefect derives from these
        # settings, not from `--port`: without them the UI calls :4200 and finds nothing.
        env.update(
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(port),
            PREFECT_UI_API_URL=self.url,
        )
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        self.log = home / "pmsync-server.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start"]
                + ["--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own group: Ctrl-C in the terminal reaches serve, which stops it last.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _healthy(self.url, 1.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the local Prefect server did not start: see {self.log}")
            time.sleep(0.3)
        self.state = home / STATE_FILE
        self.state.write_text(
            json.dumps({"url": self.url, "pid": self.process.pid, "owner": os.getpid()})
        )

    def stop(self) -> None:
        state = getattr(self, "state", None)
        if state is not None:
            state.unlink(missing_ok=True)
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """PREFECT_API_URL when set; else the local server (a live one, or one started now and
    stopped when the block ends), set as PREFECT_API_URL for this process and its children
    and as Prefect's setting for code that imported Prefect already."""
    api = os.environ.get("PREFECT_API_URL", "").strip()
    if api:
        yield api
        return
    running = local_server()
    server = None if running else LocalServer()
    url = running["url"] if running else server.url  # type: ignore[union-attr]
    os.environ["PREFECT_API_URL"] = url
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if server is not None:
            server.stop()
