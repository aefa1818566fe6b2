"""Demand per issue, exactly as written on the ticket:

- requests: distinct feedback items linked to the issue;
- customers: distinct accounts among them;
- revenue: over those accounts, the amounts of their closed-won deals closed within the
  revenue window (365 days by default), each deal once;
- open_pipeline: amounts of the open deals of those accounts and of the open deals that
  name the issue, each deal once.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from linking.accounts import AccountDirectory, Customer
from models import CustomerDemand, Deal, DemandSummary, Feedback, FeedbackRef, Link

MAX_FEEDBACK_REFS = 20
MAX_TOP_CUSTOMERS = 10


def _amount(deal: Deal) -> Decimal:
    return deal.amount or Decimal(0)


class DemandCalculator:
    def __init__(
        self,
        feedback: Iterable[Feedback],
        deals: Iterable[Deal],
        directory: AccountDirectory,
        now: datetime,
        revenue_window_days: int,
    ) -> None:
        self.directory = directory
        self.feedback = {(f.source, f.id): f for f in feedback}
        self.deals = {(d.source, d.id): d for d in deals}
        self.revenue_since = now - timedelta(days=revenue_window_days)
        self.deals_of: dict[str, list[Deal]] = defaultdict(list)
        for deal in self.deals.values():
            for customer in directory.for_deal(deal):
                self.deals_of[customer.key].append(deal)

    def is_revenue(self, deal: Deal) -> bool:
        return deal.is_won and deal.close_date is not None and deal.close_date >= self.revenue_since

    def summary(self, issue_key: str, links: Iterable[Link]) -> DemandSummary:
        items: list[Feedback] = []
        named_deals: list[Deal] = []
        for link in links:
            if link.kind == "feedback" and (link.source, link.record_id) in self.feedback:
                items.append(self.feedback[(link.source, link.record_id)])
            elif link.kind == "deal" and (link.source, link.record_id) in self.deals:
                named_deals.append(self.deals[(link.source, link.record_id)])
        items = list({(f.source, f.id): f for f in items}.values())

        customers: dict[str, Customer] = {}
        requests_of: dict[str, int] = defaultdict(int)
        for item in items:
            customer = self.directory.for_feedback(item)
            customers.setdefault(customer.key, customer)
            requests_of[customer.key] += 1

        revenue: dict[tuple[str, str], Deal] = {}
        pipeline: dict[tuple[str, str], Deal] = {}
        rows = []
        for key, customer in customers.items():
            own = self.deals_of.get(key, [])
            won = [d for d in own if self.is_revenue(d)]
            open_ = [d for d in own if d.is_open]
            revenue.update(((d.source, d.id), d) for d in won)
            pipeline.update(((d.source, d.id), d) for d in open_)
            rows.append(
                CustomerDemand(
                    account=key,
                    name=customer.name,
                    requests=requests_of[key],
                    revenue=sum((_amount(d) for d in won), Decimal(0)),
                    open_pipeline=sum((_amount(d) for d in open_), Decimal(0)),
                )
            )
        pipeline.update(((d.source, d.id), d) for d in named_deals if d.is_open)

        rows.sort(key=lambda r: (-r.revenue, -r.open_pipeline, -r.requests, r.name))
        recent = sorted(items, key=lambda f: f.created_at or f.updated_at, reverse=True)
        return DemandSummary(
            issue_key=issue_key,
            requests=len(items),
            customers=len(customers),
            revenue=sum((_amount(d) for d in revenue.values()), Decimal(0)),
            open_pipeline=sum((_amount(d) for d in pipeline.values()), Decimal(0)),
            top_customers=rows[:MAX_TOP_CUSTOMERS],
            feedback=[
                FeedbackRef(source=f.source, record_id=f.id, url=f.url, subject=f.subject)
                for f in recent[:MAX_FEEDBACK_REFS]
            ],
            deal_ids=sorted(f"{d.source}:{d.id}" for d in (revenue | pipeline).values()),
        )


def content_hash(summary: DemandSummary) -> str:
    """A stable fingerprint of what would be written: equal hashes mean nothing to write."""
    payload = json.dumps(summary.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
