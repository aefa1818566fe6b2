"""`pmsync check`: is the configuration complete, does every configured tool answer, and
are the store and the Prefect server ready? One cheap call per tool, and each failure says
exactly what to fix: the URL that does not answer, the credentials refused (and the
settings that hold them), the permission missing, the tracker's custom field that does not
exist (with the names that come close)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, inspect, make_url
from sqlalchemy.exc import SQLAlchemyError

from connectors import registry
from connectors.base import CheckFailed
from connectors.http import ApiError, AuthError, RetryableError
from connectors.settings import Settings
from flows.budgets import limit_name
from models import ConfigError


@dataclass(frozen=True)
class CheckResult:
    name: str  # configuration, database, a tool, "<tool> <feature>", prefect
    ok: bool
    detail: str
    # An optional feature the tenant lacks: not a failure (the feature alone is off).
    missing: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(settings: Settings, timeout: float = 10.0) -> list[CheckResult]:
    """The database, every configured tool and the Prefect API, checked in parallel."""
    quick = settings.model_copy(
        update={"http_max_attempts": 1, "http_timeout_s": min(timeout, settings.http_timeout_s)}
    )
    checks: list[tuple[str, Callable[[], str]]] = [
        ("database", lambda: check_database(settings.database_url))
    ]
    checks += [(tool, _tool_check(tool, quick)) for tool in registry.configured(settings)]
    checks.append(("prefect", lambda: check_prefect(settings, timeout)))
    # Each tool's optional features (permissions, custom fields, plan features).
    probes = [t for t in registry.configured(settings) if registry.vendor(t).capabilities]
    with ThreadPoolExecutor(max_workers=len(checks) + len(probes)) as pool:
        futures = [(name, pool.submit(_outcome, check)) for name, check in checks]
        features = [(tool, pool.submit(_capabilities, tool, quick)) for tool in probes]
        results = [CheckResult(name, *future.result()) for name, future in futures]
        by_tool = {tool: future.result() for tool, future in features}
    # Each tool's optional features follow its own line.
    ordered: list[CheckResult] = []
    for result in results:
        ordered.append(result)
        if result.ok:
            ordered += by_tool.get(result.name, [])
    return ordered


def _capabilities(tool: str, settings: Settings) -> list[CheckResult]:
    """Each optional feature of a tool, available or missing (with what to change). A probe
    that fails outright is reported as such, never as the tool failing."""
    probe = registry.vendor(tool).capabilities
    try:
        found = probe(settings) if probe else []
    except (ApiError, requests.RequestException, ValueError) as error:
        return [CheckResult(f"{tool} features", True, f"not probed: {error}", missing=True)]
    return [
        CheckResult(
            f"{tool} {c.name}",
            True,
            c.detail if c.available else f"missing: {c.detail}",
            missing=not c.available,
        )
        for c in found
    ]


def configuration_failure(error: ConfigError) -> CheckResult:
    return CheckResult("configuration", False, str(error))


def _outcome(check: Callable[[], str]) -> tuple[bool, str]:
    try:
        return True, check()
    except CheckFailed as failure:
        return False, str(failure)
    except ConfigError as error:
        return False, str(error)


# -- tools --------------------------------------------------------------------------------


def _tool_check(tool: str, settings: Settings) -> Callable[[], str]:
    def check() -> str:
        try:
            return registry.vendor(tool).check(settings)
        except (ApiError, requests.RequestException, ValueError) as error:
            raise CheckFailed(explain_failure(tool, error)) from None

    return check


def explain_failure(tool: str, error: Exception) -> str:
    """What a failed call means for the person fixing the configuration."""
    where = registry.vendor(tool).url_setting
    if isinstance(error, RetryableError) and error.status is None:
        return f"unreachable: {error} (check {where})"
    if isinstance(error, AuthError):
        if error.status == 403:
            return (
                f"permission refused (403): the credentials work but may not do this; "
                f"give the API user read access. {error}"
            )
        return f"credentials refused ({error.status}): {error}"
    if isinstance(error, ApiError) and error.status == 404:
        return f"not found (404): is {where} the tool's address? {error}"
    if isinstance(error, RetryableError):
        return f"the tool answered {error.status}; try again later. {error}"
    if isinstance(error, ValueError) and not isinstance(error, ConfigError):
        return f"the answer is not the tool's API (not JSON): check {where}"
    return str(error)


# -- the store and Prefect ----------------------------------------------------------------


def check_database(url: str) -> str:
    """Connect without changing anything, and say where the schema is against head."""
    from store.migrations import current_revision, head_revision

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    file = parsed.database not in (None, "", ":memory:")
    if parsed.get_backend_name() == "sqlite" and file and not Path(parsed.database or "").exists():
        return f"{shown}: no database yet; the first pmsync command creates it"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
            adopted = current is None and inspect(conn).has_table("records")
    except SQLAlchemyError as error:
        first_line = str(error.orig if hasattr(error, "orig") else error).splitlines()[0]
        raise CheckFailed(f"{shown}: cannot connect: {first_line} (PMSYNC_DATABASE_URL)") from None
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return f"{shown}: schema at revision {head} (head)"
    if adopted:
        return f"{shown}: made before migrations; the next pmsync command adopts it ({head})"
    if current is None:
        return f"{shown}: empty; the first pmsync command creates the schema ({head})"
    from alembic.script import ScriptDirectory

    from store.migrations import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current not in known:
        raise CheckFailed(
            f"{shown}: schema at revision {current}, which this pmsync does not know "
            "(a newer pmsync migrated it): upgrade pmsync"
        )
    return f"{shown}: schema at revision {current}; the next pmsync command upgrades it to {head}"


def check_prefect(settings: Settings, timeout: float) -> str:
    """The API answers, and the rate limits exist when budgets are shared through it.

    Plain HTTP against PREFECT_API_URL (with PREFECT_API_KEY when set): this runs in a
    worker thread, where Prefect's own client would not see the caller's settings."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        if settings.rate_budget_scope == "prefect":
            raise CheckFailed(
                "PMSYNC_RATE_BUDGET_SCOPE is prefect but PREFECT_API_URL is not set: the "
                "budgets live on a Prefect server"
            )
        return (
            "PREFECT_API_URL not set: CLI runs go to the local server `pmsync serve` keeps "
            "while it runs, else run in the CLI's own process (`pmsync status` says which)"
        )
    key = os.environ.get("PREFECT_API_KEY")
    session = requests.Session()
    if key:
        session.headers["Authorization"] = f"Bearer {key}"
    try:
        response = session.get(f"{api}/health", timeout=timeout)
        if response.status_code in (401, 403):
            raise CheckFailed(f"{api} refused the key ({response.status_code}): PREFECT_API_KEY")
        if response.status_code != 200:
            raise CheckFailed(f"{api}/health answered {response.status_code} (PREFECT_API_URL)")
        if settings.rate_budget_scope != "prefect":
            return f"{api}: healthy"
        missing = []
        for tool in registry.configured(settings):
            if tool not in settings.budgets:
                continue  # no budget: no limit to look for
            limit = session.get(f"{api}/v2/concurrency_limits/{limit_name(tool)}", timeout=timeout)
            if limit.status_code == 404:
                missing.append(limit_name(tool))
    except requests.RequestException as error:
        raise CheckFailed(f"{api} unreachable: {type(error).__name__} (PREFECT_API_URL)") from None
    if missing:
        raise CheckFailed(
            f"{api}: rate limits {', '.join(missing)} do not exist, so every call would fail; "
            "`pmsync serve` creates them (flows.budgets.ensure_prefect_limits)"
        )
    return f"{api}: healthy; rate limits in place for {', '.join(registry.configured(settings))}"
