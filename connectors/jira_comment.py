"""The managed comment a product manager reads on the Jira issue, in ADF."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors import adf
from connectors.jira_write import COMMENT_MARKER
from models import DemandSummary
from models.records import money

MAX_TABLE_ROWS = 5
MAX_REQUEST_LINKS = 5


def _change(label: str, before: Any, after: Any, fmt: Any = str) -> str | None:
    if before is None or Decimal(str(before)) == Decimal(str(after)):
        return None
    delta = Decimal(str(after)) - Decimal(str(before))
    sign = "+" if delta > 0 else "-"
    return f"{sign}{fmt(abs(delta))} {label}"


def changes(summary: DemandSummary, previous: dict[str, Any] | None) -> str:
    if previous is None:
        return "First summary for this issue."
    parts = [
        _change("requests", previous.get("requests"), summary.requests),
        _change("customers", previous.get("customers"), summary.customers),
        _change("revenue", previous.get("revenue"), summary.revenue, money),
        _change("open pipeline", previous.get("open_pipeline"), summary.open_pipeline, money),
    ]
    found = [p for p in parts if p]
    return (
        "Since the last update: " + ", ".join(found) + "."
        if found
        else "Numbers unchanged since the last update; the list of requests changed."
    )


def render_comment(
    summary: DemandSummary, previous: dict[str, Any] | None, written_at: datetime
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        adf.heading("Customer demand"),
        adf.paragraph(adf.text(summary.headline, bold=True)),
    ]
    if summary.top_customers:
        rows = [
            [
                adf.text(c.name),
                adf.text(str(c.requests)),
                adf.text(money(c.revenue)),
                adf.text(money(c.open_pipeline)),
            ]
            for c in summary.top_customers[:MAX_TABLE_ROWS]
        ]
        content.append(adf.table(["Customer", "Requests", "Revenue", "Open deals"], rows))
        more = len(summary.top_customers) - MAX_TABLE_ROWS
        if summary.customers > MAX_TABLE_ROWS:
            more = summary.customers - MAX_TABLE_ROWS
        if more > 0:
            content.append(adf.paragraph(adf.text(f"and {more} more customers")))
    if summary.feedback:
        content.append(adf.paragraph(adf.text("Latest requests", bold=True)))
        content.append(
            adf.bullet_list(
                [
                    [
                        adf.text(ref.subject or f"{ref.source} {ref.record_id}", link=ref.url),
                        adf.text(f" ({ref.source} #{ref.record_id})"),
                    ]
                    for ref in summary.feedback[:MAX_REQUEST_LINKS]
                ]
            )
        )
    content.append(adf.paragraph(adf.text(changes(summary, previous))))
    stamp = written_at.strftime("%Y-%m-%d %H:%M UTC")
    content.append(
        adf.paragraph(
            adf.text(
                f"Updated {stamp} by pmsync sync. This is the {COMMENT_MARKER}: it is rewritten in "
                "place, so edits here are lost."
            )
        )
    )
    return adf.doc(*content)
