"""The backlog ranked by demand: one row per issue with the numbers written on its ticket,
narrowed by project, status, customer segment or time window, and the customers who ask
for the most issues. Pure: the caller hands in the calculator, the issues and the links.

Without a segment or a time window every row's numbers are the issue's demand summary
(linking.demand), the numbers on the ticket. A segment or window narrows the requests
counted; the customers, revenue and pipeline then follow from the requests that remain,
and deals that name the issue (which no request brought) are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from linking.demand import DemandCalculator
from models import DemandSummary, Issue, Link

SORTS = (
    "requests",
    "importance",
    "customers",
    "revenue",
    "pipeline",
    "named",
    "weighted",
    "trend",
)
# Revenue bands of a customer (its revenue as the ticket counts it), as Productboard segments
# by ARR: [low, high) in the company currency.
SEGMENTS: dict[str, tuple[Decimal, Decimal | None]] = {
    "none": (Decimal(0), Decimal("0.01")),
    "small": (Decimal("0.01"), Decimal(10_000)),
    "mid": (Decimal(10_000), Decimal(100_000)),
    "enterprise": (Decimal(100_000), None),
}


@dataclass(frozen=True)
class Filters:
    project: str | None = None
    status: str | None = None
    segment: str | None = None
    since: datetime | None = None

    @property
    def narrows_requests(self) -> bool:
        return self.segment is not None or self.since is not None


@dataclass
class ReportRow:
    key: str
    summary: str
    project: str
    status: str
    url: str
    demand: DemandSummary
    # Open pipeline split: deals that name the issue (or a person linked to it), and the
    # asking customers' other open deals, which wait on it less surely.
    named_pipeline: Decimal = Decimal(0)
    other_pipeline: Decimal = Decimal(0)
    # Each asking customer: (name, requests), from the breakdown behind the numbers.
    asking: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def trend(self) -> int:
        """Requests in the last 30 days minus the 30 days before."""
        return self.demand.requests_last_30d - self.demand.requests_prior_30d

    def sort_key(self, by: str) -> tuple[Any, ...]:
        d = self.demand
        values: dict[str, Decimal | int] = {
            "requests": d.requests,
            "importance": d.weighted_requests,
            "customers": d.customers,
            "revenue": d.revenue,
            "pipeline": d.open_pipeline,
            "named": self.named_pipeline,
            "weighted": d.weighted_pipeline,
            "trend": self.trend,
        }
        value = values[by]
        # Ties fall back on requests, then revenue, then the key: a stable order.
        return (-value, -d.requests, -d.revenue, self.key)

    def as_json(self) -> dict[str, Any]:
        d = self.demand
        return {
            "key": self.key,
            "summary": self.summary,
            "project": self.project,
            "status": self.status,
            "url": self.url,
            "requests": d.requests,
            "weighted_requests": d.weighted_requests,
            "customers": d.customers,
            "revenue": str(d.revenue),
            "open_pipeline": str(d.open_pipeline),
            "weighted_pipeline": str(d.weighted_pipeline),
            "named_pipeline": str(self.named_pipeline),
            "other_pipeline": str(self.other_pipeline),
            "requests_last_30d": d.requests_last_30d,
            "requests_prior_30d": d.requests_prior_30d,
            "trend": self.trend,
            "currency": d.currency,
        }


@dataclass
class CustomerRow:
    """A customer and the issues it asks for."""

    key: str
    name: str
    issues: list[str]
    requests: int
    revenue: Decimal


@dataclass
class Report:
    rows: list[ReportRow]
    customers: list[CustomerRow]
    # Each shown issue's counted requests' creation times, oldest first.
    requested_at: dict[str, list[datetime]]
    currency: str | None


def segment_of(revenue: Decimal) -> str:
    for name, (low, high) in SEGMENTS.items():
        if revenue >= low and (high is None or revenue < high):
            return name
    return "none"


def _issue_matches(issue: Issue, filters: Filters) -> bool:
    if filters.project and issue.project.lower() != filters.project.lower():
        return False
    if filters.status:
        wanted = filters.status.lower()
        # A status name ("In Progress") or its category ("new", "indeterminate", "done").
        if wanted not in (issue.status.lower(), issue.status_category):
            return False
    return True


def narrowed(links: Iterable[Link], calculator: DemandCalculator, filters: Filters) -> list[Link]:
    """The counted links left by a segment or time window (all of them without either)."""
    links = [x for x in links if x.counts]
    if not filters.narrows_requests:
        return links
    kept = []
    for link in links:
        item = calculator.feedback.get((link.source, link.record_id))
        if link.kind != "feedback" or item is None:
            continue
        created = item.created_at or item.updated_at
        if filters.since is not None and created < filters.since:
            continue
        if filters.segment is not None:
            customer = calculator.directory.for_feedback(item).key
            if segment_of(calculator.revenue_of(customer)) != filters.segment:
                continue
        kept.append(link)
    return kept


def build_report(
    calculator: DemandCalculator,
    issues: Mapping[str, Issue],
    links_by_issue: Mapping[str, list[Link]],
    filters: Filters | None = None,
    sort: str = "requests",
    limit: int | None = None,
) -> Report:
    """Every issue something counted asks for (requests or deals), ranked by `sort`;
    `limit` keeps the top rows."""
    if sort not in SORTS:
        raise ValueError(f"sort by one of {', '.join(SORTS)}, not {sort!r}")
    filters = filters or Filters()
    rows: list[ReportRow] = []
    requested_at: dict[str, list[datetime]] = {}
    for key, links in links_by_issue.items():
        issue = issues.get(key)
        if issue is None or not _issue_matches(issue, filters):
            continue
        counted = narrowed(links, calculator, filters)
        if not counted:  # nothing asks for it (any more): no demand to rank
            continue
        parts = calculator.breakdown(key, counted)
        demand = calculator.summary(key, counted)
        rows.append(
            ReportRow(
                key=key,
                summary=issue.summary,
                project=issue.project,
                status=issue.status,
                url=issue.url,
                demand=demand,
                named_pipeline=demand.named_pipeline,
                other_pipeline=demand.other_pipeline,
                asking={
                    c: (customer.name, len(parts.requests_of[c]))
                    for c, customer in parts.customers.items()
                },
            )
        )
        requested_at[key] = sorted(f.created_at or f.updated_at for f in parts.items.values())
    rows.sort(key=lambda r: r.sort_key(sort))
    shown = rows[:limit] if limit else rows
    currencies = sorted({r.demand.currency for r in rows if r.demand.currency})
    return Report(
        rows=shown,
        customers=top_customers(rows, calculator),
        requested_at={r.key: requested_at[r.key] for r in shown},
        currency="/".join(currencies) or None,
    )


def top_customers(
    rows: list[ReportRow], calculator: DemandCalculator, top: int = 15
) -> list[CustomerRow]:
    """The customers who ask for the most issues (among all rows, not only those shown)."""
    issues_of: dict[str, list[str]] = defaultdict(list)
    requests_of: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for row in rows:
        for customer, (name, requests) in row.asking.items():
            issues_of[customer].append(row.key)
            requests_of[customer] += requests
            names[customer] = name
    ranked = sorted(
        issues_of,
        key=lambda c: (-len(issues_of[c]), -calculator.revenue_of(c), c),
    )[:top]
    return [
        CustomerRow(
            key=c,
            name=names[c],
            issues=sorted(issues_of[c]),
            requests=requests_of[c],
            revenue=calculator.revenue_of(c),
        )
        for c in ranked
    ]
