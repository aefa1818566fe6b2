"""The `sync` Prefect flow: one cycle, each step a coarse task (never a task per record)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.pipeline import SyncResult, run_cycle
from models import ConfigError, Settings, load_settings
from store import Store

# Query parameters a driver takes a password from (libpq's `password`, `sslpassword`).
PASSWORD_KEYS = {"password", "passwd", "pwd", "sslpassword"}


def as_task(fn: Callable[..., Any]) -> Callable[..., Any]:
    # No caching: inputs hold the store and settings, and every cycle must really run.
    named = task(name=fn.__name__.replace("_", "-"), cache_policy=NO_CACHE, retries=0)
    return named(fn)


def refuse_secrets(database_url: str | None = None, sandbox_url: str | None = None) -> None:
    """Refuse a flow parameter that carries a password: Prefect stores every flow run's
    parameters in its database and shows them in its UI, so a secret passed so is a secret
    kept there. The store's URL with its password, and the tools' credentials, are read from
    the environment of the process that runs the flow (PMSYNC_DATABASE_URL, ...)."""
    if database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(database_url)
        except (ArgumentError, ValueError):  # a bad port is a ValueError
            # Not echoed: a URL that does not parse may still hold a password.
            raise ConfigError(
                "the database_url parameter is not a database URL; leave it out and set "
                "PMSYNC_DATABASE_URL in the environment of the worker or `pmsync serve`"
            ) from None
        if url.password is not None or {k.lower() for k in url.query} & PASSWORD_KEYS:
            raise ConfigError(
                "the database_url parameter carries a password, and Prefect stores flow "
                "parameters in its database and shows them in its UI: leave database_url "
                "out and set PMSYNC_DATABASE_URL in the environment of the worker or "
                "`pmsync serve` instead"
            )
    if sandbox_url and urlsplit(sandbox_url).password is not None:
        raise ConfigError(
            "the sandbox_url parameter carries a password, and Prefect stores flow "
            "parameters: give the sandbox's address without user:password@"
        )


def settings_for(sandbox_url: str | None, database_url: str | None = None, **more: Any) -> Settings:
    """The run's settings: from the environment (or the sandbox's demo ones with
    `sandbox_url`), with `database_url` only when it holds no password."""
    refuse_secrets(database_url, sandbox_url)
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    overrides.update(more)
    if sandbox_url:
        return Settings.for_sandbox(sandbox_url, **overrides)
    return load_settings(**overrides)


@flow(name="sync", log_prints=True)
def sync(
    sandbox_url: str | None = None,
    full: bool = False,
    database_url: str | None = None,
    sources: list[str] | None = None,
    allow_mass_delete: bool = False,
) -> dict[str, Any]:
    """Pull the configured tools (or only `sources`), link feedback and deals to issues,
    publish demand, and leave a table of what happened as the run's artifact.

    Parameters carry no secrets: credentials and the store's URL come from the environment
    of the process that runs the flow (or the sandbox's demo credentials with
    `sandbox_url`); a `database_url` with a password is refused (`refuse_secrets`).
    `allow_mass_delete` lets a full listing delete more than PMSYNC_MAX_DELETE_SHARE."""
    extra = {"allow_mass_delete": True} if allow_mass_delete else {}
    settings = settings_for(sandbox_url, database_url, **extra)
    store = Store(settings.database_url)
    result = run_cycle(settings, store, full=full, step=as_task, sources=sources)
    report_artifact(result)
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
