"""What a product manager reads on the Jira issue: the managed comment (ADF) and the
machine-readable property, both kept inside Jira's size limits."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.jira import adf
from connectors.jira.write import COMMENT_MARKER
from models import DemandSummary

MAX_TABLE_ROWS = 5
# Jira refuses comment bodies over 32,767 characters and property values over 32,768
# bytes of UTF-8 JSON; cut whole items, never mid-structure.
MAX_COMMENT_CHARS = 30_000
MAX_PROPERTY_BYTES = 32_768


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
        _delta("revenue", previous.get("revenue"), summary.revenue, summary.money),
        _delta(
            "open pipeline", previous.get("open_pipeline"), summary.open_pipeline, summary.money
        ),
    ]
    found = [p for p in parts if p]
    if not found:
        return "Since the last update: the same numbers; the requests listed changed."
    return "Since the last update: " + ", ".join(found) + "."


def trend(summary: DemandSummary) -> str:
    """The 30-day trend, requests per tool and when they came: only the parts there are,
    so an issue with no requests reads as a sentence, not "...; ."."""
    parts = [
        f"{summary.requests_last_30d} requests in the last 30 days "
        f"({summary.requests_prior_30d} in the 30 before)"
    ]
    sources = ", ".join(f"{n} {tool}" for tool, n in summary.by_source.items())
    if sources:
        parts.append(sources)
    if summary.first_requested and summary.last_requested:
        parts.append(
            f"first asked {summary.first_requested:%Y-%m-%d}, "
            f"last {summary.last_requested:%Y-%m-%d}"
        )
    return "; ".join(parts) + "."


def pipeline(summary: DemandSummary) -> str | None:
    """What the open pipeline is made of: the deals that name the issue (the largest by
    name) and the asking customers' other open deals; None without open pipeline."""
    if not summary.open_pipeline:
        return None
    parts = []
    if summary.named_pipeline:
        names = [f"{d.name} {summary.money(d.amount)}" for d in summary.named_deals]
        if sum((d.amount for d in summary.named_deals), Decimal(0)) < summary.named_pipeline:
            names.append("more")  # only the largest are kept on the summary
        listed = f" ({', '.join(names)})" if names else ""
        parts.append(f"{summary.money(summary.named_pipeline)} in deals naming this issue{listed}")
    if summary.other_pipeline:
        parts.append(
            f"{summary.money(summary.other_pipeline)} in the asking customers' other open deals"
        )
    return f"Open pipeline {summary.money(summary.open_pipeline)}: " + "; ".join(parts) + "."


def importance(summary: DemandSummary) -> str | None:
    """The requests weighed by importance, only when some request weighs more than 1: the
    comment of an issue whose requests carry no priority reads as it always did."""
    if summary.weighted_requests in (0, summary.requests):
        return None
    return (
        f"Weighted by importance: {summary.weighted_requests} (each request 1 to 3, from its "
        "ticket's priority or a person)."
    )


def _customer_table(summary: DemandSummary) -> list[dict[str, Any]]:
    if not summary.top_customers:
        return []
    rows = [
        [
            adf.text(c.name),
            adf.text(str(c.requests)),
            adf.text(summary.money(c.revenue)),
            adf.text(summary.money(c.open_pipeline)),
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
    split = pipeline(summary)
    if split:
        head.append(adf.paragraph(adf.text(split)))
    weighed = importance(summary)
    if weighed:
        head.append(adf.paragraph(adf.text(weighed)))
    tail = [
        adf.paragraph(adf.text(trend(summary))),
        adf.paragraph(adf.text(changes(summary, previous))),
        adf.paragraph(
            adf.text(
                f"{amounts_in(summary)}Updated {written_at:%Y-%m-%d %H:%M} UTC by pmsync sync. "
                "This is the "
                f"{COMMENT_MARKER}: it is rewritten in place, so edits here are lost."
            )
        ),
    ]
    for middle in (_customer_table(summary) + _quotes(summary), _customer_table(summary), []):
        body = adf.doc(*head, *middle, *tail)
        if len(json.dumps(body)) <= MAX_COMMENT_CHARS:
            return body
    return body


def amounts_in(summary: DemandSummary) -> str:
    """The sentence naming the currency of the amounts, when the CRMs said it."""
    if not summary.currency:
        return ""
    if "/" in summary.currency:
        return (
            f"Amounts mix {summary.currency}: the CRMs' company currencies differ, so set "
            "them to one. "
        )
    return f"Amounts in {summary.currency}, the company currency. "


def property_bytes(value: Any) -> int:
    """The size Jira gives a property value: its JSON in UTF-8, so "é" is 2 bytes and "東"
    3, not the 6 of an escaped "\\u6771" (what `json.dumps` writes by default)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def fit_property(summary: DemandSummary, **extra: Any) -> dict[str, Any]:
    """The summary (and `extra`) as JSON under Jira's 32 KB property limit: long lists are
    cut, marked."""
    payload = {**summary.model_dump(mode="json"), **extra}
    for key in ("deal_ids", "feedback", "top_customers", "quotes"):
        while property_bytes(payload) > MAX_PROPERTY_BYTES and payload[key]:
            payload[key] = payload[key][: len(payload[key]) // 2]
            payload["truncated"] = True
    return payload


def comment_basis(summary: DemandSummary) -> dict[str, Any]:
    """What the managed comment shows, kept to decide whether a new summary changes it
    materially (`material_change`) and what its "since the last update" line compares with."""
    basis = {
        "customers": summary.customers,
        "named": [c.name for c in summary.top_customers[:MAX_TABLE_ROWS]],
        "quotes": [[q.source, q.record_id, q.text] for q in summary.quotes],
        "requests": summary.requests,
        "revenue": str(summary.revenue),
        "open_pipeline": str(summary.open_pipeline),
    }
    if importance(summary):  # kept only when the comment shows it, as `_weighted` reads it
        basis["weighted"] = summary.weighted_requests
    return basis


def _weighted(shown: dict[str, Any]) -> str:
    """The weighted requests a comment shows; one without the line shows the requests."""
    return str(shown.get("weighted", shown.get("requests")))


NUMBERS = ("requests", "revenue", "open_pipeline")


def material_change(shown: dict[str, Any] | None, summary: DemandSummary) -> bool:
    """Whether the comment must be rewritten now, whatever the interval.

    Material: there is no comment yet, or the people it names change: another customer
    asks (the customer count moves), the customers named in its table change (who, or in
    which order), or its quotes change (a quote added, dropped or reworded). Numbers alone
    (requests, revenue, pipeline, the 30-day trend) are not material: the fields and the
    property carry them fresh on every write, and the comment catches up at most once per
    PMSYNC_COMMENT_MIN_INTERVAL_HOURS (`numbers_changed`)."""
    if shown is None:
        return True
    now = comment_basis(summary)
    return any(shown.get(k) != now[k] for k in ("customers", "named", "quotes"))


def numbers_changed(shown: dict[str, Any] | None, summary: DemandSummary) -> bool:
    """Whether the numbers the comment shows are no longer the summary's."""
    now = comment_basis(summary)
    if shown is None or _weighted(shown) != _weighted(now):
        return True
    return any(str(shown.get(k)) != str(now[k]) for k in NUMBERS)
