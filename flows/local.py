"""The sync cycle without Prefect, and what both ways of running it share.

The CLI runs a cycle here when no Prefect server is configured (`PREFECT_API_URL`) or
running (`pmsync serve`'s local one): the same steps on the same store, without paying
10-20 s for Prefect's temporary server per call, nor importing Prefect (1.5 s). The run is
recorded in pmsync's store (`pmsync status`), not on a server."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from connectors.settings import Settings, load_settings
from flows.logs import for_tool
from flows.pipeline import Progress, run_cycle
from models import ConfigError
from store import Store

# Query parameters a driver takes a password from (libpq's `password`, `sslpassword`).
PASSWORD_KEYS = {"password", "passwd", "pwd", "sslpassword"}

# What the CLI shows while a cycle runs in its process (a terminal's progress bars); set
# with `progress_to`, read by both ways of running a cycle. Never a flow parameter: a
# callable cannot go to Prefect's database.
_listener: list[Progress | None] = [None]


@contextlib.contextmanager
def progress_to(listener: Progress | None) -> Iterator[None]:
    before, _listener[0] = _listener[0], listener
    try:
        yield
    finally:
        _listener[0] = before


def listener() -> Progress | None:
    return _listener[0]


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


def naming_the_tool(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its log lines naming the tool, when its third argument (or `source=`) is
    one (a pull: `pull_source(settings, store, source, ...)`)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        tool = kwargs.get("source", args[2] if len(args) > 2 else None)
        with for_tool(tool if isinstance(tool, str) else None):
            return fn(*args, **kwargs)

    return run


def sync_in_process(
    sandbox_url: str | None = None,
    full: bool = False,
    database_url: str | None = None,
    sources: list[str] | None = None,
    allow_mass_delete: bool = False,
) -> dict[str, Any]:
    """The `sync` flow's cycle without Prefect: same steps, same store, same result; no
    flow run, task runs or artifact on a server."""
    extra = {"allow_mass_delete": True} if allow_mass_delete else {}
    settings = settings_for(sandbox_url, database_url, **extra)
    result = run_cycle(
        settings,
        Store(settings.database_url, upgrade=True),
        full=full,
        step=naming_the_tool,
        sources=sources,
        progress=listener(),
    )
    return result.as_dict()
