"""Every pmsync deployment, served from one process (`pmsync serve`, or `python -m
deployments.serve`): the scheduled sync, a sync per tool, the backfill (whole, or one part
of a split one) and the event handler. The syncs and the whole backfill allow one run at
a time (a new run is cancelled while one is going).

How soon a run starts once it is created is the runner's query interval
(`QUERY_SECONDS`, `PMSYNC_SERVE_QUERY_SECONDS`): a served runner finds new runs by polling
the server, by default every `PREFECT_RUNNER_POLL_FREQUENCY` = 10 s (a whole-seconds
setting), 5 s of wait on average; the runner takes a float, so it is given 0.5 s. Each run
then starts in a new Python, which spends 2.5-4 s (2 cores) importing Prefect and pmsync:
nothing for a sync or a backfill. Webhooks do not wait for it: `pmsync webhooks` runs
`handle-events` as a Prefect flow run in its own process (webhooks.dispatch, `AsFlowRun`);
the deployment served here is for runs started from Prefect (`--mode deployment`, the UI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from connectors import registry
from connectors.settings import Settings, load_settings
from flows.budgets import ensure_prefect_limits
from flows.sync import refuse_secrets, sync
from models import ConfigError

log = logging.getLogger("pmsync.serve")

ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)
# Seconds between the runner's looks for runs due: a new run waits half this on average.
# Measured on a 2-core box (Prefect server on SQLite, nothing running): each look costs the
# server ~14 ms of CPU, so 0.5 s is 3% of a core over its idle (0.25 s: 6%, 1 s: 1.5%,
# Prefect's default 10 s: 0.3%), for 0.25 s of average wait instead of 5 s.
QUERY_SECONDS = 0.5
QUERY_SECONDS_ENV = "PMSYNC_SERVE_QUERY_SECONDS"


@dataclass(frozen=True)
class Served:
    """A flow served under a deployment name, with `Runner.add_flow`'s options."""

    flow: Any
    name: str
    options: dict[str, Any] = field(default_factory=dict)


def build_deployments(settings: Settings) -> list[Served]:
    deployments = [
        Served(
            sync,
            "sync",
            {
                "schedules": [Cron(settings.sync_cron, timezone=settings.sync_timezone)],
                "concurrency_limit": ONE_AT_A_TIME,
                "description": "Pull every configured tool, link, publish demand to Jira.",
                "tags": ["pmsync"],
            },
        )
    ]
    for source in registry.configured(settings):
        deployments.append(
            Served(
                sync,
                f"sync-{source}",
                {
                    "parameters": {"sources": [source]},
                    "concurrency_limit": ONE_AT_A_TIME,
                    "description": f"Pull only {source}, then link and publish.",
                    "tags": ["pmsync", source],
                },
            )
        )
    deployments += extra_deployments()
    return deployments


def extra_deployments() -> list[Served]:
    """The backfill and event-handling deployments, when their flows are installed."""
    found = []
    try:
        from flows.backfill import backfill

        found.append(
            Served(
                backfill,
                "backfill",
                {
                    "concurrency_limit": ONE_AT_A_TIME,
                    "tags": ["pmsync"],
                    "description": "Re-read one tool over a date range, window by window.",
                },
            )
        )
        # A backfill split over workers: one run per date range, at the same time (so no
        # limit of one), none relinking; `pmsync publish` relinks and publishes once after.
        found.append(
            Served(
                backfill,
                "backfill-part",
                {
                    "parameters": {"relink": False},
                    "tags": ["pmsync"],
                    "description": "One date range of a backfill split over several workers.",
                },
            )
        )
    except ImportError:
        pass
    with contextlib.suppress(ImportError):
        found.append(events_deployment())
    return found


def events_deployment(parameters: dict[str, Any] | None = None) -> Served:
    """`handle-events`, which the webhook dispatcher starts (no limit of one: each run
    handles its own claimed batch)."""
    from flows.events import handle_events

    return Served(
        handle_events,
        "handle-events",
        {
            "tags": ["pmsync"],
            "description": "Re-read what webhooks named, relink, republish those issues.",
            **({"parameters": parameters} if parameters else {}),
        },
    )


def query_seconds() -> float:
    """The runner's query interval: `PMSYNC_SERVE_QUERY_SECONDS`, else `QUERY_SECONDS`."""
    raw = os.environ.get(QUERY_SECONDS_ENV, "").strip()
    if not raw:
        return QUERY_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{QUERY_SECONDS_ENV} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{QUERY_SECONDS_ENV} must be above 0, not {raw!r}")
    return value


def serve_flows(
    served: list[Served],
    *,
    seconds: float | None = None,
    pause_on_shutdown: bool = True,
) -> None:
    """Serve `served` in this process until interrupted: one runner, polling every
    `seconds` (default `query_seconds()`)."""
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    for item in served:
        # A deployment's parameters are stored in Prefect like a run's: never a password.
        given = item.options.get("parameters") or {}
        refuse_secrets(given.get("database_url"), given.get("sandbox_url"))
    runner = Runner(
        name="pmsync",
        query_seconds=seconds or query_seconds(),
        pause_on_shutdown=pause_on_shutdown,
    )
    for item in served:
        # As flow objects, with the hooks `announced` gave them: the runner runs each run
        # of a flow it holds in a child process (Prefect's `run_flow_in_subprocess`).
        runner.add_flow(item.flow, name=item.name, **item.options)
    print(
        f"Serving {', '.join(item.name for item in served)}: polling for runs every "
        f"{runner.query_seconds}s",
        flush=True,
    )
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        log.info("stopped")


def _line(text: str) -> None:
    # Straight to the file descriptor serve's terminal holds: a run's process inherits
    # it from serve; Prefect's print capture is not involved.
    sys.stdout.write(f"{datetime.now().astimezone():%H:%M:%S} {text}\n")
    sys.stdout.flush()


def _counts(result: Any) -> str:
    """`pulled 144, 188 links, published 3` from a sync's (or backfill's) result."""
    if not isinstance(result, dict):
        return ""
    said = []
    if isinstance(result.get("pulled"), dict):
        said.append(f"pulled {sum(result['pulled'].values())}")
    elif "records" in result:
        said.append(f"read {result['records']}")
    if "links" in result:
        said.append(f"{result['links']} links")
    published = result.get("published")
    if isinstance(published, dict):
        said.append(f"published {published.get('written', 0)}")
    if result.get("failed"):
        said.append("failed: " + ", ".join(sorted(result["failed"])))
    return ", ".join(said)


def announced(item: Served) -> Served:
    """`item` whose runs print one line when they start and one when they end, with the
    outcome and counts (or the failure's first line), on serve's output."""
    name = item.name

    def running(flow: Any, flow_run: Any, state: Any) -> None:
        from flows.logs import for_runs, one_line_errors_on_the_console

        for_runs()  # in the run's own process
        one_line_errors_on_the_console()
        _line(f"{name} {flow_run.name} started")

    def ended(flow: Any, flow_run: Any, state: Any) -> None:
        seconds = ""
        if flow_run.start_time is not None:
            took = datetime.now(UTC) - flow_run.start_time
            seconds = f" in {took.total_seconds():.1f}s"
        if state.is_completed():
            try:
                counts = _counts(state.result(raise_on_failure=False))
            except Exception:  # the result is not at hand: the line goes without counts
                counts = ""
            _line(f"{name} {flow_run.name} ok{seconds}" + (f": {counts}" if counts else ""))
            return
        why = (state.message or state.name or "").strip().splitlines()
        _line(f"{name} {flow_run.name} {state.name.lower()}{seconds}: {why[0] if why else ''}")

    flow = item.flow.with_options(
        on_running=[running], on_completion=[ended], on_failure=[ended], on_crashed=[ended]
    )
    return Served(flow, item.name, item.options)


def main() -> None:
    from deployments.local_server import prefect_api
    from flows.logs import configure, prefect_environment

    prefect_environment()
    configure()
    settings = load_settings()
    # A served run needs a Prefect server: PREFECT_API_URL, or one kept while serving.
    with prefect_api():
        if settings.rate_budget_scope == "prefect":
            ensure_prefect_limits(settings)
        from deployments.alerts import ensure_alerts

        ensure_alerts(settings.sync_cron)  # with PMSYNC_ALERT_BLOCK
        serve_flows([announced(item) for item in build_deployments(settings)])


if __name__ == "__main__":
    main()
