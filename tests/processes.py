"""Helpers for tests that run pmsync in a child process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def run_python(
    *args: str, env: Mapping[str, str], timeout: float, cwd: Path | None = ROOT
) -> subprocess.CompletedProcess[str]:
    """`python <args>` in a child process (from the project root unless told), its output
    kept as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def prefect_env(home: Path, log_level: str, **extra: str) -> dict[str, str]:
    """This environment with a Prefect of its own: settings under `home` (made here) and an
    ephemeral server, never one a PREFECT_API_URL points at."""
    env = dict(
        os.environ,
        **extra,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL=log_level,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    env.pop("PREFECT_API_URL", None)
    home.mkdir()
    return env


def wait_for(what: str, check: Any, timeout: float, interval: float) -> Any:
    """What `check` returns once it is truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
