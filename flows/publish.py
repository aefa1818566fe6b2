"""Publishing demand onto Jira: fields, the managed comment and the property, written only
when the content changed, and healed when a run died between a write and its ledger entry."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from connectors.http import ApiError
from connectors.jira import JiraConnector
from connectors.jira_comment import render_comment
from connectors.jira_write import JiraWriter
from linking.demand import content_hash
from models import DemandSummary, Settings
from store import LedgerEntry, Store

log = logging.getLogger("pmsync.publish")


def _number(value: Decimal | int) -> float | int:
    return value if isinstance(value, int) else float(value)


def publish_all(
    settings: Settings, store: Store, summaries: dict[str, DemandSummary]
) -> dict[str, int]:
    counts = {"written": 0, "unchanged": 0, "failed": 0}
    ledger = store.ledger()
    pending = {
        key: s
        for key, s in summaries.items()
        if key not in ledger or ledger[key].content_hash != content_hash(s)
    }
    counts["unchanged"] = len(summaries) - len(pending)
    if not pending:
        return counts
    writer = JiraWriter(JiraConnector(settings))
    # A missing or misspelt field stops the run here, before any write.
    names = [
        settings.jira_field_requests,
        settings.jira_field_revenue,
        settings.jira_field_pipeline,
    ]
    field_ids = writer.resolve_fields(names)
    for key, summary in pending.items():
        try:
            publish_issue(writer, store, summary, ledger.get(key), field_ids, names)
            counts["written"] += 1
        except ApiError as error:
            counts["failed"] += 1
            log.error("publishing %s failed: %s", key, error)
    log.info("published: %s", counts)
    return counts


def publish_issue(
    writer: JiraWriter,
    store: Store,
    summary: DemandSummary,
    entry: LedgerEntry | None,
    field_ids: dict[str, str],
    names: list[str],
) -> None:
    key = summary.issue_key
    requests_field, revenue_field, pipeline_field = (field_ids[n] for n in names)
    writer.update_fields(
        key,
        {
            requests_field: summary.requests,
            revenue_field: _number(summary.revenue),
            pipeline_field: _number(summary.open_pipeline),
        },
    )
    # The ledger may lack the comment id if the last run died after posting it: look first.
    comment_id = (
        entry.comment_id if entry and entry.comment_id else writer.find_managed_comment(key)
    )
    body = render_comment(summary, entry.summary if entry else None, datetime.now(UTC))
    try:
        comment_id = writer.write_comment(key, body, comment_id)
    except ApiError as error:
        if error.status != 404 or comment_id is None:
            raise
        comment_id = writer.write_comment(key, body, None)  # someone deleted it: post anew
    payload = summary.model_dump(mode="json")
    writer.set_property(key, payload)
    store.record_publish(LedgerEntry(key, content_hash(summary), comment_id, payload))
