"""Rate budgets per tool: in this process, or shared by every worker through Prefect
global concurrency limits that pmsync creates itself."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from connectors import registry
from connectors.http import RateBudget, set_throttle
from connectors.settings import Settings

log = logging.getLogger("pmsync.budgets")


def limit_name(tool: str) -> str:
    return f"pmsync-rate-{tool}"


def install_budgets(settings: Settings) -> None:
    """Make every API call of this process wait for its tool's budget."""
    budgets = settings.budgets
    for tool in (v.name for v in registry.vendors()):
        rate = budgets.get(tool)
        if settings.rate_budget_scope == "off" or rate is None:
            set_throttle(tool, None)
        elif settings.rate_budget_scope == "prefect":
            set_throttle(tool, _prefect_throttle(limit_name(tool)))
        else:
            set_throttle(tool, RateBudget(rate).take)


def _prefect_throttle(name: str) -> Callable[[], None]:
    from prefect.concurrency.sync import rate_limit

    def take() -> None:
        # strict: a limit that does not exist is an error, never "no limit at all".
        rate_limit(name, strict=True)

    return take


def ensure_prefect_limits(settings: Settings) -> dict[str, float]:
    """Create or update one global rate limit per tool on the Prefect server."""
    from prefect.client.orchestration import get_client

    created = {}
    with get_client(sync_client=True) as client:
        for tool, rate in settings.budgets.items():
            client.upsert_global_concurrency_limit_by_name(
                name=limit_name(tool),
                limit=max(1, math.ceil(rate)),
                slot_decay_per_second=rate,
            )
            created[limit_name(tool)] = rate
    log.info("Prefect rate limits ready: %s", created)
    return created
