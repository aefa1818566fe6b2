"""`pmsync report --html` at scale: sync the sandbox's world at `--scale N` into a new store
(no Prefect), then time the report command as a user runs it, a few times.

    .venv/bin/python benchmarks/report_scale.py [--scale 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from connectors.settings import Settings
    from flows.pipeline import run_cycle
    from sandbox.server import start_sandbox
    from store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/pmsync.db"
        server = start_sandbox(seed=7, scale=args.scale)
        try:
            settings = Settings.for_sandbox(server.url, database_url=url)
            started = time.monotonic()
            result = run_cycle(settings, Store(url, upgrade=True), full=True)
            print(
                f"scale {args.scale}: synced in {time.monotonic() - started:.1f}s, "
                f"{result.links} links, {result.published['written']} issues published"
            )
        finally:
            server.stop()
        env = dict(os.environ, PMSYNC_DATABASE_URL=url, PYTHONPATH=str(ROOT))
        for run in range(args.runs):
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "pmsync", "report", "--html", f"{tmp}/report.html"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            print(f"run {run + 1}: `pmsync report --html` {time.monotonic() - started:.2f}s")


if __name__ == "__main__":
    main()
