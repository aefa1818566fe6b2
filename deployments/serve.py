"""Every pmsync deployment, served from one process (`pmsync serve`, or `python -m
deployments.serve`): the scheduled sync, a sync per tool, the backfill and the event
handler, each allowed one run at a time (a new run is cancelled while one is going)."""

from __future__ import annotations

import logging
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from flows.budgets import ensure_prefect_limits
from flows.sync import sync
from models import Settings, load_settings

log = logging.getLogger("pmsync.serve")

ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build_deployments(settings: Settings) -> list[Any]:
    deployments = [
        sync.to_deployment(
            name="sync",
            schedules=[Cron(settings.sync_cron, timezone=settings.sync_timezone)],
            concurrency_limit=ONE_AT_A_TIME,
            description="Pull every configured tool, link, publish demand to Jira.",
            tags=["pmsync"],
        )
    ]
    for source in settings.sources:
        deployments.append(
            sync.to_deployment(
                name=f"sync-{source}",
                parameters={"sources": [source]},
                concurrency_limit=ONE_AT_A_TIME,
                description=f"Pull only {source}, then link and publish.",
                tags=["pmsync", source],
            )
        )
    deployments += extra_deployments()
    return deployments


def extra_deployments() -> list[Any]:
    """The backfill and event-handling deployments, when their flows are installed."""
    found = []
    try:
        from flows.backfill import backfill

        found.append(
            backfill.to_deployment(
                name="backfill",
                concurrency_limit=ONE_AT_A_TIME,
                tags=["pmsync"],
                description="Re-read one tool over a date range, window by window.",
            )
        )
        # A backfill split over workers: one run per date range, at the same time (so no
        # limit of one), none relinking; `pmsync publish` relinks and publishes once after.
        found.append(
            backfill.to_deployment(
                name="backfill-part",
                parameters={"relink": False},
                tags=["pmsync"],
                description="One date range of a backfill split over several workers.",
            )
        )
    except ImportError:
        pass
    try:
        from flows.events import handle_events

        found.append(
            handle_events.to_deployment(
                name="handle-events",
                tags=["pmsync"],
                description="Re-read what webhooks named, relink, republish those issues.",
            )
        )
    except ImportError:
        pass
    return found


def main() -> None:
    from prefect import serve

    settings = load_settings()
    if settings.rate_budget_scope == "prefect":
        ensure_prefect_limits(settings)
    deployments = build_deployments(settings)
    log.info("serving %s", ", ".join(d.name for d in deployments))
    serve(*deployments)


if __name__ == "__main__":
    main()
