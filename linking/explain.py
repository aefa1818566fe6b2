"""How each number on a ticket adds up: every request, customer and deal behind it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from linking.demand import Breakdown, DemandCalculator, deal_amount, weighted_amount
from linking.importance import importance_of
from models import Issue, Link


def _sum_text(amounts: list[Decimal]) -> str:
    if not amounts:
        return "0 (nothing counts)"
    total = sum(amounts, Decimal(0))
    return f"{' + '.join(str(a) for a in amounts)} = {total}" if len(amounts) > 1 else str(total)


def _revenue_text(calculator: DemandCalculator, parts: Breakdown) -> str:
    if calculator.crm_revenue is not None:
        amounts = [amount for _, amount in sorted(parts.customer_revenue.items())]
        return _sum_text(amounts) + " (the revenue field of those customers' CRM accounts)"
    return (
        _sum_text([deal_amount(d) for _, d in sorted(parts.revenue.items())])
        + f" (closed-won deals of those accounts, closed since "
        f"{calculator.revenue_since:%Y-%m-%d})"
    )


def explain(
    calculator: DemandCalculator, issue: Issue, links: list[Link], suggestions: list[Link]
) -> dict[str, Any]:
    """The same breakdown the summary is built from, laid out for a person to check."""
    parts = calculator.breakdown(issue.key, links)
    summary = calculator.summary(issue.key, links)
    customer_of = {pair: key for key, pairs in parts.requests_of.items() for pair in pairs}
    requests = []
    for pair, item in sorted(parts.items.items()):
        link = parts.item_links[pair]
        requests.append(
            {
                "source": item.source,
                "record_id": item.id,
                "url": item.url,
                "subject": item.subject,
                "customer": customer_of[pair],
                "method": link.method,
                "status": link.status,
                "confidence": link.confidence,
                "evidence": link.evidence,
                "importance": importance_of(item, calculator.importance),
            }
        )
    deals = []
    for pair in sorted(set(parts.revenue) | set(parts.pipeline)):
        deal = parts.revenue.get(pair) or parts.pipeline[pair]
        deals.append(
            {
                "source": deal.source,
                "id": deal.id,
                "name": deal.name,
                "url": deal.url,
                "amount": str(deal_amount(deal)),
                "stage": deal.stage,
                "weighted": str(weighted_amount(deal)) if pair in parts.pipeline else None,
                "close_date": deal.close_date.isoformat() if deal.close_date else None,
                "counts_in": [
                    name
                    for name, group in (
                        ("revenue", parts.revenue),
                        ("open_pipeline", parts.pipeline),
                    )
                    if pair in group
                ],
                "why": sorted(parts.reasons[pair]),
            }
        )
    numbers = summary.model_dump(
        mode="json",
        include={
            "requests",
            "weighted_requests",
            "customers",
            "revenue",
            "open_pipeline",
            "named_pipeline",
            "weighted_pipeline",
        },
    )
    return {
        "issue": {
            "key": issue.key,
            "summary": issue.summary,
            "status": issue.status,
            "url": issue.url,
        },
        "headline": summary.headline,
        "numbers": numbers,
        "adds_up": {
            "requests": f"{len(requests)} distinct feedback items linked to {issue.key}",
            "weighted_requests": f"{summary.weighted_requests}: each request's importance "
            "(1 to 3: a person's, else its ticket's priority), added up",
            "customers": f"{len(parts.customers)} distinct accounts among their requesters",
            "revenue": _revenue_text(calculator, parts),
            "open_pipeline": _sum_text([deal_amount(d) for _, d in sorted(parts.pipeline.items())])
            + " (open deals of those accounts or naming the issue, each once)",
            "named_pipeline": _sum_text(
                [deal_amount(d) for _, d in sorted(parts.named_deals.items()) if d.is_open]
            )
            + f" (the open deals that name {issue.key} or are linked to it)",
            "weighted_pipeline": _sum_text(
                [weighted_amount(d) for _, d in sorted(parts.pipeline.items())]
            )
            + " (each open amount times its stage probability)",
        },
        "requests": requests,
        "customers": [
            {
                "account": key,
                "name": customer.name,
                "requests": [f"{s}:{r}" for s, r in parts.requests_of[key]],
                **(
                    {"revenue": str(parts.customer_revenue[key])}
                    if key in parts.customer_revenue
                    else {}
                ),
            }
            for key, customer in sorted(parts.customers.items())
        ],
        "deals": deals,
        "suggestions": [
            {
                "source": s.source,
                "record_id": s.record_id,
                "confidence": s.confidence,
                "evidence": s.evidence,
            }
            for s in suggestions
        ],
    }
