"""Prefect automations that tell ops when syncs go wrong, through a notification block
they configure (Slack webhook, email, Teams, a custom webhook...).

`PMSYNC_ALERT_BLOCK=<block type slug>/<block name>` (e.g. `slack-webhook/ops-alerts`,
created in Prefect's UI or with `prefect block create slack-webhook`) makes `pmsync
serve` create or update two automations on its Prefect server:

- `pmsync: sync failed` — a run of the `sync` flow (any of its deployments: `sync`,
  `sync-zendesk`, ...) entered Failed or Crashed;
- `pmsync: sync stale` — no run of `sync` completed within `PMSYNC_ALERT_STALE_INTERVALS`
  (default 3) schedule intervals (PMSYNC_SYNC_CRON's).

Both are defined here, so serve keeps them as the code says (an edit in the UI is
replaced at the next start)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from models import ConfigError

log = logging.getLogger("pmsync.serve")

BLOCK_ENV = "PMSYNC_ALERT_BLOCK"
INTERVALS_ENV = "PMSYNC_ALERT_STALE_INTERVALS"
FAILED = "pmsync: sync failed"
STALE = "pmsync: sync stale"
FLOW = "sync"

FAILED_BODY = (
    "pmsync {{ flow.name }} run {{ flow_run.name }} ended {{ flow_run.state.name }}: "
    "{{ flow_run.state.message }} ({{ flow_run|ui_url }})"
)
STALE_BODY = "pmsync: no sync has completed for {{ event.payload.within }}; see `pmsync status`."


def schedule_interval(cron: str) -> timedelta:
    """The longest gap between two of the cron's next few runs."""
    from cronsim import CronSim

    runs = CronSim(cron, datetime.now(UTC))
    times = [next(runs) for _ in range(6)]
    return max(later - earlier for earlier, later in zip(times, times[1:], strict=False))


def stale_intervals() -> int:
    raw = os.environ.get(INTERVALS_ENV, "").strip() or "3"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{INTERVALS_ENV} must be a whole number of intervals, not {raw!r}")
    return int(raw)


def automations(block_id: Any, interval: timedelta, intervals: int) -> list[Any]:
    """The two automations, not yet created."""
    from prefect.automations import Automation
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    of_sync = {"prefect.resource.role": "flow", "prefect.resource.name": FLOW}
    runs = {"prefect.resource.id": "prefect.flow-run.*"}
    failed = Automation(
        name=FAILED,
        description="A pmsync sync run failed or crashed.",
        trigger=EventTrigger(
            match=runs,
            match_related=of_sync,
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id, subject="pmsync sync failed", body=FAILED_BODY
            )
        ],
    )
    stale = Automation(
        name=STALE,
        description=f"No pmsync sync completed for {intervals} schedule intervals.",
        trigger=EventTrigger(
            match=runs,
            match_related=of_sync,
            expect={"prefect.flow-run.Completed"},
            posture=Posture.Proactive,
            threshold=1,
            within=interval * intervals,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id, subject="pmsync sync stale", body=STALE_BODY
            )
        ],
    )
    return [failed, stale]


def ensure_alerts(cron: str, block: str | None = None) -> list[str]:
    """Create or replace the automations when PMSYNC_ALERT_BLOCK (or `block`) names a
    notification block; returns the names of those in place."""
    from prefect.blocks.core import Block
    from prefect.client.orchestration import get_client

    block = block or os.environ.get(BLOCK_ENV, "").strip()
    if not block:
        return []
    try:
        notifier: Any = Block.load(block)  # sync here: no running event loop
    except (ValueError, KeyError) as error:
        raise ConfigError(
            f"{BLOCK_ENV}={block!r}: no such block ({error}); create it in Prefect's UI or "
            "with `prefect block create slack-webhook` (type slug/name)"
        ) from None
    block_id = notifier._block_document_id
    made = []
    for automation in automations(block_id, schedule_interval(cron), stale_intervals()):
        with get_client(sync_client=True) as client:
            for old in client.read_automations_by_name(name=automation.name):
                client.delete_automation(old.id)  # replaced as the code says
        automation.create()
        made.append(automation.name)
    log.info("alerts through %s: %s", block, ", ".join(made))
    return made
