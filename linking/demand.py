"""Demand per issue, exactly as written on the ticket:

- requests: distinct feedback items linked to the issue;
- customers: distinct accounts among them;
- revenue: over those accounts, the amounts of their closed-won deals closed within the
  revenue window (365 days by default), each deal once; or, with PMSYNC_REVENUE_FROM=
  crm_field, the revenue field (an ARR) of their CRM accounts, each account once;
- open_pipeline: amounts of the open deals of those accounts and of the open deals that
  name the issue, each deal once; named_pipeline: of those, the deals that name the issue
  (or a person linked to it), the rest being the asking customers' other open deals;
- weighted_pipeline: the same deals, each amount times its stage probability;
- weighted_requests: the requests, each counted as its importance (1 to 3: a person's
  word, else the ticket's priority; linking.importance);
- by_source: requests per support tool; first/last requested: the earliest and latest
  request's creation time; requests_last_30d / requests_prior_30d: requests created in the
  last 30 days and in the 30 days before.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from linking.accounts import AccountDirectory, Customer
from linking.importance import importance_of
from models import CustomerDemand, Deal, DemandSummary, Feedback, FeedbackRef, Link, Quote
from models.records import NamedDeal

MAX_FEEDBACK_REFS = 20
MAX_TOP_CUSTOMERS = 10
MAX_QUOTES = 3
MAX_NAMED_DEALS = 5
QUOTE_CHARS = 160
GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^\n,.!]{0,40}[,.!]\s*", re.I
)


def deal_amount(deal: Deal) -> Decimal:
    return deal.amount or Decimal(0)


def weighted_amount(deal: Deal) -> Decimal:
    # A CRM that knows no probability for the deal's stage counts none of it.
    probability = deal.probability if deal.probability is not None else 0.0
    return (deal_amount(deal) * Decimal(str(probability))).quantize(Decimal("0.01"))


def _requested_at(item: Feedback) -> datetime:
    return item.created_at or item.updated_at


def excerpt(text: str, limit: int = QUOTE_CHARS, focus: str | None = None) -> str:
    """A request's own words, without the greeting, cut at a word boundary; when the text
    names `focus` (the issue key) past the cut, from the sentence that names it."""
    plain = " ".join(GREETING.sub("", text.strip()).split())
    if focus and focus in plain and plain.index(focus) > limit - len(focus) - 20:
        start = max(plain.rfind(". ", 0, plain.index(focus)) + 2, 0)
        plain = "…" + plain[start:]
    if len(plain) <= limit:
        return plain
    return plain[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


@dataclass
class Breakdown:
    items: dict[tuple[str, str], Feedback] = field(default_factory=dict)
    item_links: dict[tuple[str, str], Link] = field(default_factory=dict)
    named_deals: dict[tuple[str, str], Deal] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    requests_of: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    revenue: dict[tuple[str, str], Deal] = field(default_factory=dict)
    # With revenue from a CRM field: each customer's revenue instead of revenue deals.
    customer_revenue: dict[str, Decimal] = field(default_factory=dict)
    pipeline: dict[tuple[str, str], Deal] = field(default_factory=dict)
    reasons: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))


class DemandCalculator:
    def __init__(
        self,
        feedback: Iterable[Feedback],
        deals: Iterable[Deal],
        directory: AccountDirectory,
        now: datetime,
        revenue_window_days: int,
        crm_revenue: dict[str, Decimal] | None = None,
        importance: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        """`crm_revenue`, when given, is each customer's revenue from its CRM accounts'
        revenue field: it replaces revenue from closed-won deals. `importance` is what a
        person set for requests (linking.importance), by (source, id)."""
        self.directory = directory
        self.importance = importance or {}
        self.crm_revenue = crm_revenue
        self.feedback = {(f.source, f.id): f for f in feedback}
        self.deals = {(d.source, d.id): d for d in deals}
        self.now = now
        self.revenue_since = now - timedelta(days=revenue_window_days)
        self.deals_of: dict[str, list[Deal]] = defaultdict(list)
        for deal in self.deals.values():
            for customer in directory.for_deal(deal):
                self.deals_of[customer.key].append(deal)
        # Decided once per deal: a summary asks for every deal of every customer listed.
        self._revenue = {
            (d.source, d.id)
            for d in self.deals.values()
            if crm_revenue is None  # else revenue comes from the CRM's field, not from deals
            and d.is_won
            and d.close_date is not None
            and d.close_date >= self.revenue_since
        }
        self._revenue_of: dict[str, Decimal] = {}

    def is_revenue(self, deal: Deal) -> bool:
        return (deal.source, deal.id) in self._revenue

    def revenue_of(self, customer: str) -> Decimal:
        """A customer's revenue: its revenue deals, or its CRM accounts' revenue field."""
        if self.crm_revenue is not None:
            return self.crm_revenue.get(customer, Decimal(0))
        if customer not in self._revenue_of:  # a customer is listed on many issues
            self._revenue_of[customer] = sum(
                (deal_amount(d) for d in self.deals_of.get(customer, []) if self.is_revenue(d)),
                Decimal(0),
            )
        return self._revenue_of[customer]

    def breakdown(self, issue_key: str, links: Iterable[Link]) -> Breakdown:
        """Which requests, customers and deals make up the issue's numbers, and why."""
        parts = Breakdown()
        for link in links:
            pair = (link.source, link.record_id)
            if not link.counts:
                continue
            if link.kind == "feedback" and pair in self.feedback:
                parts.items.setdefault(pair, self.feedback[pair])
                parts.item_links[pair] = link
            elif link.kind == "deal" and pair in self.deals:
                parts.named_deals.setdefault(pair, self.deals[pair])
        for pair, item in parts.items.items():
            customer = self.directory.for_feedback(item)
            parts.customers.setdefault(customer.key, customer)
            parts.requests_of[customer.key].append(pair)
        for key in parts.customers:
            if self.crm_revenue is not None:
                parts.customer_revenue[key] = self.revenue_of(key)
            for deal in self.deals_of.get(key, []):
                pair = (deal.source, deal.id)
                if self.is_revenue(deal):
                    parts.revenue.setdefault(pair, deal)
                    parts.reasons[pair].add(f"closed won by {key}")
                if deal.is_open:
                    parts.pipeline.setdefault(pair, deal)
                    parts.reasons[pair].add(f"open deal of {key}")
        for pair, deal in parts.named_deals.items():
            if deal.is_open:
                parts.pipeline.setdefault(pair, deal)
                parts.reasons[pair].add(f"names {issue_key}")
        return parts

    def summary(self, issue_key: str, links: Iterable[Link]) -> DemandSummary:
        parts = self.breakdown(issue_key, links)
        items = list(parts.items.values())
        customers = parts.customers
        revenue, pipeline = parts.revenue, parts.pipeline
        rows = []
        for key, customer in customers.items():
            own = self.deals_of.get(key, [])
            rows.append(
                CustomerDemand(
                    account=key,
                    name=customer.name,
                    requests=len(parts.requests_of[key]),
                    revenue=self.revenue_of(key),
                    open_pipeline=sum((deal_amount(d) for d in own if d.is_open), Decimal(0)),
                )
            )
        rows.sort(key=lambda r: (-r.revenue, -r.open_pipeline, -r.requests, r.name))
        recent = sorted(items, key=_requested_at, reverse=True)
        by_source: dict[str, int] = defaultdict(int)
        for item in items:
            by_source[item.source] += 1
        month_ago, two_months_ago = self.now - timedelta(days=30), self.now - timedelta(days=60)
        named = sorted(
            (d for d in parts.named_deals.values() if d.is_open),
            key=lambda d: (-deal_amount(d), d.name, d.id),
        )
        return DemandSummary(
            issue_key=issue_key,
            requests=len(items),
            weighted_requests=sum(importance_of(item, self.importance) for item in items),
            customers=len(customers),
            revenue=sum((deal_amount(d) for d in revenue.values()), Decimal(0))
            + sum(parts.customer_revenue.values(), Decimal(0)),
            open_pipeline=sum((deal_amount(d) for d in pipeline.values()), Decimal(0)),
            weighted_pipeline=sum((weighted_amount(d) for d in pipeline.values()), Decimal(0)),
            by_source=dict(sorted(by_source.items())),
            first_requested=min((_requested_at(f) for f in items), default=None),
            last_requested=max((_requested_at(f) for f in items), default=None),
            requests_last_30d=sum(1 for f in items if _requested_at(f) >= month_ago),
            requests_prior_30d=sum(
                1 for f in items if two_months_ago <= _requested_at(f) < month_ago
            ),
            top_customers=rows[:MAX_TOP_CUSTOMERS],
            quotes=self.quotes(recent, issue_key),
            feedback=[
                FeedbackRef(source=f.source, record_id=f.id, url=f.url, subject=f.subject)
                for f in recent[:MAX_FEEDBACK_REFS]
            ],
            deal_ids=sorted(f"{d.source}:{d.id}" for d in (revenue | pipeline).values()),
            named_pipeline=sum((deal_amount(d) for d in named), Decimal(0)),
            named_deals=[
                NamedDeal(name=d.name, amount=deal_amount(d), url=d.url)
                for d in named[:MAX_NAMED_DEALS]
            ],
            currency=currency_of(
                [*revenue.values(), *pipeline.values(), *self.deals_counted(rows)]
            ),
        )

    def deals_counted(self, rows: list[CustomerDemand]) -> list[Deal]:
        """The customers' own deals behind the table's amounts."""
        return [d for row in rows for d in self.deals_of.get(row.account, [])]

    def quotes(self, recent: list[Feedback], issue_key: str) -> list[Quote]:
        """The latest requests of up to three different customers, in their own words."""
        quotes: list[Quote] = []
        quoted: set[str] = set()
        for item in recent:
            customer = self.directory.for_feedback(item)
            text = excerpt(item.body or item.subject, focus=issue_key)
            if customer.key in quoted or not text:
                continue
            quoted.add(customer.key)
            quotes.append(
                Quote(
                    source=item.source,
                    record_id=item.id,
                    url=item.url,
                    customer=customer.name,
                    text=text,
                )
            )
            if len(quotes) == MAX_QUOTES:
                break
        return quotes


def currency_of(deals: Iterable[Deal]) -> str | None:
    """The currency amounts summed from these deals are in: their company currency, or
    every one of them joined ("EUR/USD") when two CRMs convert to different ones."""
    found = sorted({d.currency for d in deals if d.currency})
    return "/".join(found) or None


def content_hash(summary: DemandSummary) -> str:
    """A stable fingerprint of what would be written: equal hashes mean nothing to write.
    An unknown currency is left out, so summaries from before it was kept hash the same."""
    dumped = summary.model_dump(mode="json")
    # Fields added later are left out at their defaults, so summaries from before them
    # hash the same and an upgrade rewrites no ticket whose numbers did not change.
    for name, default in (("currency", None), ("named_pipeline", "0"), ("named_deals", [])):
        if dumped.get(name) == default:
            dumped.pop(name, None)
    # Weighted requests equal to the requests (every request of importance 1) say nothing
    # new: left out, so they rewrite no ticket either.
    if dumped.get("weighted_requests") in (dumped.get("requests"), 0):
        dumped.pop("weighted_requests", None)
    payload = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
