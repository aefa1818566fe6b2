"""The `sync` Prefect flow: one cycle, each step a coarse task (never a task per record).

The same cycle runs without Prefect (`flows.local.sync_in_process`): the CLI does that
when no Prefect server is configured or running, rather than paying 10-20 s for a
temporary one per call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from flows.local import listener, naming_the_tool, refuse_secrets, settings_for
from flows.logs import for_runs
from flows.pipeline import SyncResult, run_cycle
from store import Store

__all__ = ["ToolsFailed", "as_task", "refuse_secrets", "settings_for", "sync"]

# Task names as ops read them in the UI: the step, and for a pull the tool (`pull-<tool>`).
TASK_NAMES = {
    "pull_source": "pull",
    "link_step": "link",
    "demand_step": "sum",
    "publish_all": "publish",
    "close_loop": "close-loop",
}
RUN_NAMES = {"pull_source": "pull-{source}"}  # the other steps' runs take the task's name


P = ParamSpec("P")
R = TypeVar("R")


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return value is None or isinstance(value, str | int | float | bool)


class PlainParameters(Flow[P, R]):
    """A flow whose run parameters are JSON as they are (strings, booleans, lists of
    strings) goes to Prefect without FastAPI's encoder, whose import alone costs a CLI
    call ~0.1 s; anything else still goes through it."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if all(_plain(value) for value in parameters.values()):
            return dict(parameters)
        return super().serialize_parameters(parameters)


def plain_flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """`@flow(**options)` for a flow whose parameters are plain JSON (`PlainParameters`)."""

    def made(fn: Callable[P, R]) -> Flow[P, R]:
        return PlainParameters(fn, **options)

    return made


@functools.cache  # one task per step for the process's life, not one per step and cycle
def as_task(fn: Callable[..., Any]) -> Callable[..., Any]:
    # No caching: inputs hold the store and settings, and every cycle must really run.
    name = TASK_NAMES.get(fn.__name__, fn.__name__.replace("_", "-"))
    run_name = RUN_NAMES.get(fn.__name__, name)
    named = task(name=name, task_run_name=run_name, cache_policy=NO_CACHE, retries=0)
    return named(naming_the_tool(fn) if fn.__name__ == "pull_source" else fn)


class ToolsFailed(Exception):
    """A cycle in which some tools failed: the others' changes were stored and published.
    The run ends Failed with it, so Prefect's automations (deployments.alerts) see it;
    calling the flow raises it, with the cycle's result in `result`."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


def failed_message(result: SyncResult) -> str:
    """`failed: <tool> (why); the others' changes were published`, one line."""
    tools = "; ".join(
        f"{tool} ({(reason.strip().splitlines() or [''])[0]})"
        for tool, reason in result.failed.items()
    )
    others = "; the others' changes were published" if result.pulled else ""
    return f"failed: {tools}{others}"


@plain_flow(name="sync", log_prints=True)
def sync(
    sandbox_url: str | None = None,
    full: bool = False,
    database_url: str | None = None,
    sources: list[str] | None = None,
    allow_mass_delete: bool = False,
) -> dict[str, Any] | State[Any]:
    """Pull the configured tools (or only `sources`), link feedback and deals to issues,
    publish demand, and leave a table of what happened as the run's artifact. When a tool
    failed the run ends Failed, naming it (`ToolsFailed`), after the others' changes went
    out.

    Parameters carry no secrets: credentials come from the environment of the process
    that runs the flow (or the sandbox's demo credentials with `sandbox_url`).
    `allow_mass_delete` lets a full listing delete more than PMSYNC_MAX_DELETE_SHARE."""
    for_runs()  # this process's pmsync lines to the run's logs, at INFO, naming the tool
    extra = {"allow_mass_delete": True} if allow_mass_delete else {}
    settings = settings_for(sandbox_url, database_url, **extra)
    store = Store(settings.database_url, upgrade=True)
    result = run_cycle(
        settings, store, full=full, step=as_task, sources=sources, progress=listener()
    )
    report_artifact(result)
    if result.failed:
        message = failed_message(result)
        return Failed(message=message, data=ToolsFailed(message, result.as_dict()))
    return result.as_dict()


def report_artifact(result: SyncResult) -> None:
    """What a run pulled, linked, published and dead-lettered, and the biggest movers."""
    rows: list[dict[str, Any]] = [
        {"step": f"pulled from {tool}", "count": n} for tool, n in result.pulled.items()
    ]
    rows += [{"step": f"failed: {reason}", "count": 0} for reason in result.failed.values()]
    rows += [
        {"step": f"{tool}: {feature} off: {reason}", "count": 0}
        for tool, features in result.missing.items()
        for feature, reason in features.items()
    ]
    rows += [
        {"step": "dead letters", "count": result.dead_letters},
        {"step": "links", "count": result.links},
    ]
    rows += [{"step": f"published: {k}", "count": v} for k, v in result.published.items()]
    create_table_artifact(rows, key="sync-summary", description="What this sync did")
    if result.moved:
        create_table_artifact(
            result.moved, key="demand-movers", description="Issues whose demand moved most"
        )
