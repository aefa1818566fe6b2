"""The `sync` Prefect flow: one cycle, each step a coarse task (never a task per record)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline import run_cycle
from models import Settings, load_settings
from store import Store


def as_task(fn: Callable[..., Any]) -> Callable[..., Any]:
    # No caching: inputs hold the store and settings, and every cycle must really run.
    named = task(name=fn.__name__.replace("_", "-"), cache_policy=NO_CACHE, retries=0)
    return named(fn)


def settings_for(sandbox_url: str | None, database_url: str | None = None) -> Settings:
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    if sandbox_url:
        return Settings.for_sandbox(sandbox_url, **overrides)
    return load_settings(**overrides)


@flow(name="sync", log_prints=True)
def sync(
    sandbox_url: str | None = None, full: bool = False, database_url: str | None = None
) -> dict[str, Any]:
    """Pull every configured tool, link feedback and deals to issues, publish demand.

    Parameters carry no secrets: credentials come from the environment of the process
    that runs the flow (or the sandbox's demo credentials with `sandbox_url`)."""
    settings = settings_for(sandbox_url, database_url)
    store = Store(settings.database_url)
    return run_cycle(settings, store, full=full, step=as_task).as_dict()
