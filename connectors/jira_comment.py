"""What a product manager reads on the Jira issue: the managed comment (ADF) and the
machine-readable property, both kept inside Jira's size limits."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors import adf
from connectors.jira_write import COMMENT_MARKER
from models import DemandSummary
from models.records import money

MAX_TABLE_ROWS = 5
# Jira refuses comment bodies over 32,767 characters and properties over 32,768 bytes;
# stay well under both and cut whole items, never mid-structure.
MAX_COMMENT_CHARS = 30_000
MAX_PROPERTY_BYTES = 32_000


def _delta(label: str, before: Any, after: Decimal | int, fmt: Any = str) -> str | None:
    if before is None or Decimal(str(before)) == Decimal(str(after)):
        return None
    delta = Decimal(str(after)) - Decimal(str(before))
    return f"{'+' if delta > 0 else '-'}{fmt(abs(delta))} {label}"


def changes(summary: DemandSummary, previous: dict[str, Any] | None) -> str:
    if previous is None:
        return "First summary for this issue."
    parts = [
        _delta("requests", previous.get("requests"), summary.requests),
        _delta("customers", previous.get("customers"), summary.customers),
        _delta("revenue", previous.get("revenue"), summary.revenue, money),
        _delta("open pipeline", previous.get("open_pipeline"), summary.open_pipeline, money),
    ]
    found = [p for p in parts if p]
    if not found:
        return "Since the last update: the same numbers; the requests listed changed."
    return "Since the last update: " + ", ".join(found) + "."


def trend(summary: DemandSummary) -> str:
    sources = ", ".join(f"{n} {tool}" for tool, n in summary.by_source.items())
    when = ""
    if summary.first_requested and summary.last_requested:
        when = (
            f"; first asked {summary.first_requested:%Y-%m-%d}, "
            f"last {summary.last_requested:%Y-%m-%d}"
        )
    return (
        f"{summary.requests_last_30d} requests in the last 30 days "
        f"({summary.requests_prior_30d} in the 30 before); {sources}{when}."
    )


def _customer_table(summary: DemandSummary) -> list[dict[str, Any]]:
    if not summary.top_customers:
        return []
    rows = [
        [
            adf.text(c.name),
            adf.text(str(c.requests)),
            adf.text(money(c.revenue)),
            adf.text(money(c.open_pipeline)),
        ]
        for c in summary.top_customers[:MAX_TABLE_ROWS]
    ]
    nodes = [adf.table(["Customer", "Requests", "Revenue", "Open deals"], rows)]
    more = summary.customers - min(len(summary.top_customers), MAX_TABLE_ROWS)
    if more > 0:
        nodes.append(adf.paragraph(adf.text(f"and {more} more customers")))
    return nodes


def _quotes(summary: DemandSummary) -> list[dict[str, Any]]:
    if not summary.quotes:
        return []
    return [
        adf.paragraph(adf.text("In their words", bold=True)),
        adf.bullet_list(
            [
                [
                    adf.text(f"“{q.text}” "),
                    adf.text(f"{q.customer}, {q.source} #{q.record_id}", link=q.url),
                ]
                for q in summary.quotes
            ]
        ),
    ]


def render_comment(
    summary: DemandSummary, previous: dict[str, Any] | None, written_at: datetime
) -> dict[str, Any]:
    head = [
        adf.heading("Customer demand"),
        adf.paragraph(adf.text(summary.headline, bold=True)),
    ]
    tail = [
        adf.paragraph(adf.text(trend(summary))),
        adf.paragraph(adf.text(changes(summary, previous))),
        adf.paragraph(
            adf.text(
                f"Updated {written_at:%Y-%m-%d %H:%M} UTC by pmsync sync. This is the "
                f"{COMMENT_MARKER}: it is rewritten in place, so edits here are lost."
            )
        ),
    ]
    for middle in (_customer_table(summary) + _quotes(summary), _customer_table(summary), []):
        body = adf.doc(*head, *middle, *tail)
        if len(json.dumps(body)) <= MAX_COMMENT_CHARS:
            return body
    return body


def fit_property(summary: DemandSummary, **extra: Any) -> dict[str, Any]:
    """The summary (and `extra`) as JSON under Jira's 32 KB property limit: long lists are
    cut, marked."""
    payload = {**summary.model_dump(mode="json"), **extra}
    for key in ("deal_ids", "feedback", "top_customers", "quotes"):
        while len(json.dumps(payload).encode()) > MAX_PROPERTY_BYTES and payload[key]:
            payload[key] = payload[key][: len(payload[key]) // 2]
            payload["truncated"] = True
    return payload
