"""Where the CLI's flow runs go, and the one local Prefect server `pmsync serve` keeps.

- `PREFECT_API_URL` set: flow runs go to that server (logs, artifacts, task runs there).
- Otherwise, while `pmsync serve` runs it keeps one local Prefect server (under
  `PREFECT_HOME`, its URL and process in `pmsync-server.json` there): later CLI calls find
  it alive and send their runs to it too, so they show in the same UI.
- Otherwise the CLI runs the cycle in its own process, without Prefect (`flows.local`):
  Prefect's temporary server, which the CLI used to start and stop on every call, cost
  10-20 s for a second of work. The run is recorded in pmsync's store (`pmsync status`).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, cast

from deployments.local_server import local_server, prefect_home


@dataclass(frozen=True)
class Runs:
    """Where this process's flow runs go: `url` None means in this process, no Prefect."""

    url: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": "prefect" if self.url else "in-process",
            "url": self.url,
            "detail": self.detail,
        }


def where_runs_go() -> Runs:
    api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if api:
        return Runs(api, f"the Prefect server at PREFECT_API_URL ({api})")
    local = local_server()
    if local:
        return Runs(
            local["url"],
            f"the local Prefect server `pmsync serve` keeps ({local['url']}, pid {local['pid']})",
        )
    return Runs(
        None,
        "in this process, without Prefect: no PREFECT_API_URL and no `pmsync serve` "
        "running; runs are in pmsync's store only",
    )


def prepare_prefect(url: str) -> None:
    """Before Prefect is imported: its API, and pmsync's lines in the runs' logs."""
    from flows.logs import prefect_environment

    os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # its console lines
    prefect_environment()
    prefect_home()


class NoToolFailureReports(logging.Filter):
    """Drops Prefect's reports of a pull task that raised ToolFailed (with its traceback,
    then its end) from the console: the command prints one line per failed tool, as it
    does without a server. The reports stay in the run's Prefect logs (their handler is on
    Prefect's task-run logger, not on the console's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flows.pipeline import ToolFailed

        if not record.name.startswith("prefect."):
            return True
        error = record.exc_info[1] if record.exc_info else None
        # The task run's end is reported again without the exception: "... ToolFailed: ..."
        return not isinstance(error, ToolFailed) and "ToolFailed" not in record.getMessage()


def run_sync(
    sandbox: str | None, full: bool, allow_mass_delete: bool = False
) -> tuple[dict[str, Any], Runs]:
    """One cycle, where `where_runs_go` says. The flow reads the store's URL from the
    environment, as this process did: a URL with a password never becomes a flow-run
    parameter in Prefect's database."""
    runs = where_runs_go()
    if runs.url is None:
        from flows.local import sync_in_process

        return sync_in_process(sandbox, full, allow_mass_delete=allow_mass_delete), runs
    prepare_prefect(runs.url)
    from prefect.context import SettingsContext, get_settings_context

    from flows.sync import ToolsFailed, sync

    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, NoToolFailureReports) for f in handler.filters):
            handler.addFilter(NoToolFailureReports())
    # No heartbeats for a run in this foreground process: its thread wakes once a second,
    # and the run's end waits for it (0.5 s on average of a one-second cycle). The run
    # ends Cancelled or Crashed on Ctrl-C and SIGTERM without them; only a SIGKILL leaves
    # it Running. Served and worker runs keep theirs. (A copy of the settings with that
    # one change: `temporary_settings` would read them all again, ~0.1 s.)
    current = get_settings_context()
    flows = current.settings.flows.model_copy(update={"heartbeat_frequency": None})
    settings = current.settings.model_copy(update={"flows": flows})
    with SettingsContext(profile=current.profile, settings=settings):
        try:
            done = sync(sandbox_url=sandbox, full=full, allow_mass_delete=allow_mass_delete)
            # A Failed state is not returned: the flow raises ToolsFailed instead.
            result = cast(dict[str, Any], done)
        except ToolsFailed as partial:  # the run is Failed in Prefect; the CLI says which
            result = partial.result
    return result, runs


def exit_now(code: int = 0) -> None:
    """End the process without the interpreter's own teardown once Prefect's exit hooks
    (its log and event workers' last sends) have run: tearing down Prefect's threads and
    modules takes ~1 s of a CLI call that did a second of work."""
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def sigterm_stops() -> None:
    """SIGTERM stops this command as Ctrl-C does (KeyboardInterrupt in the main thread),
    so its `finally` blocks run: servers stopped, the run recorded, the page being stored
    rolled back with its cursor. Python's default ends the process where it stands."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
