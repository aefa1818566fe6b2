"""The shared records every layer speaks: what a connector returns and the store keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


def as_utc(value: datetime) -> datetime:
    """Every timestamp pmsync keeps is aware UTC; a naive one is a bug upstream."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return value.astimezone(UTC)


CLOSED_STATUSES = {"solved", "closed", "resolved", "deleted", "archived"}


class Record(BaseModel):
    """A record as one tool knows it: where it lives, its id there, and when it last changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    id: str = Field(min_length=1)
    url: str
    updated_at: AwareDatetime

    _utc = field_validator("updated_at")(as_utc)


class Issue(Record):
    """A Jira issue: the thing customers ask for."""

    key: str
    project: str
    summary: str
    description: str = ""
    status: str
    status_category: Literal["new", "indeterminate", "done", "undefined"] = "undefined"
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    released_versions: tuple[str, ...] = Field(
        default=(), description="The fix versions that are released: the issue shipped."
    )
    created_at: AwareDatetime | None = None
    published: bool = Field(
        False, description="pmsync's demand property is on the issue: pmsync wrote to it."
    )


class Feedback(Record):
    """One piece of customer feedback: a support ticket or conversation."""

    subject: str = ""
    body: str = ""
    status: str = ""
    tags: tuple[str, ...] = ()
    requester_email: str | None = None
    requester_name: str | None = None
    account_id: str | None = Field(
        default=None, description="The tool's own organisation or company id, if any."
    )
    created_at: AwareDatetime | None = None
    priority: str | None = Field(
        default=None, description="The tool's priority as low, normal, high or urgent, if any."
    )

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.body}"

    @property
    def is_open(self) -> bool:
        """Still waiting on an answer, in any tool's words for its statuses."""
        return self.status.lower() not in CLOSED_STATUSES


class Deal(Record):
    """A CRM deal (opportunity) and the issues it names."""

    name: str
    amount: Decimal | None = None
    currency: str | None = Field(
        default=None, description="ISO code of `amount`'s currency (the company's), if known."
    )
    stage: str
    is_closed: bool
    is_won: bool
    close_date: AwareDatetime | None = None
    account_ids: tuple[str, ...] = ()
    issue_keys: tuple[str, ...] = ()
    probability: float | None = Field(
        default=None, ge=0, le=1, description="Chance to close won, from the deal's stage."
    )

    @property
    def is_open(self) -> bool:
        return not self.is_closed


class Account(Record):
    """A customer organisation as one tool knows it."""

    name: str
    domains: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = Field(
        default=(), description="Ids this account has in other tools (e.g. a CRM id)."
    )
    revenue: Decimal | None = Field(
        default=None, description="The CRM's revenue field (an ARR), when one is configured."
    )

    @field_validator("domains")
    @classmethod
    def _lower(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({d.strip().lower() for d in domains if d.strip()}))


class ToolLink(Record):
    """A link a tool's Jira integration keeps between a ticket or deal and an issue: kept
    in the tool (a Zendesk Jira link: `source` is the ticket's tool) or in Jira (a remote
    link: `source` is "jira", `record_source` the tool of the ticket or deal it points at)."""

    record_id: str
    issue_key: str
    record_source: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        """(source, id) of the ticket or deal linked."""
        return (self.record_source or self.source, self.record_id)


class RecordKind(StrEnum):
    """The kinds of record the store keeps; equal to the strings stored (`"issue"`, ...)."""

    ISSUE = "issue"
    FEEDBACK = "feedback"
    DEAL = "deal"
    ACCOUNT = "account"
    TOOL_LINK = "tool_link"


LinkMethod = Literal["cited_key", "tool_link", "deal_field", "tag", "text", "confirmed"]
# auto links count in demand; suggested ones wait for a person; confirmed ones are a person's.
LinkStatus = Literal["auto", "suggested", "confirmed"]


class Link(BaseModel):
    """A feedback item or deal tied to the Jira issue it asks for, and why."""

    model_config = ConfigDict(frozen=True)

    source: str
    record_id: str
    kind: Literal["feedback", "deal"]
    issue_key: str
    method: LinkMethod
    confidence: float = 1.0
    evidence: str = ""
    status: LinkStatus = "auto"

    @property
    def counts(self) -> bool:
        return self.status != "suggested"


class CustomerDemand(BaseModel):
    """One customer's share of an issue's demand."""

    account: str
    name: str
    requests: int
    revenue: Decimal
    open_pipeline: Decimal


class FeedbackRef(BaseModel):
    source: str
    record_id: str
    url: str
    subject: str


class Quote(BaseModel):
    """A few words of a customer's own request, with the way back to it."""

    source: str
    record_id: str
    url: str
    customer: str
    text: str


class NamedDeal(BaseModel):
    """An open deal that names the issue (or that a person linked to it)."""

    name: str
    amount: Decimal
    url: str


class DemandSummary(BaseModel):
    """What pmsync writes onto a Jira issue; every number is defined in linking.demand."""

    issue_key: str
    requests: int
    customers: int
    revenue: Decimal
    open_pipeline: Decimal
    # The requests each weighed by its importance, 1 to 3 (linking.importance).
    weighted_requests: int = 0
    weighted_pipeline: Decimal = Decimal(0)
    by_source: dict[str, int] = {}
    first_requested: AwareDatetime | None = None
    last_requested: AwareDatetime | None = None
    requests_last_30d: int = 0
    requests_prior_30d: int = 0
    top_customers: list[CustomerDemand] = []
    quotes: list[Quote] = []
    feedback: list[FeedbackRef] = []
    deal_ids: list[str] = []
    # Of open_pipeline, the deals that name the issue or are linked to it (the rest is the
    # asking customers' other open deals), and the largest of them by name.
    named_pipeline: Decimal = Decimal(0)
    named_deals: list[NamedDeal] = []
    # ISO code of every amount above: the company currency the CRMs convert deals to (None:
    # no deal said, a single-currency CRM). Two CRMs with different company currencies give
    # both codes ("EUR/USD"), since their sums then mix them.
    currency: str | None = None

    @property
    def other_pipeline(self) -> Decimal:
        """The asking customers' open deals that do not name the issue."""
        return self.open_pipeline - self.named_pipeline

    @property
    def headline(self) -> str:
        cash = self.money
        weighted = f" ({cash(self.weighted_pipeline)} weighted)" if self.open_pipeline else ""
        return (
            f"{self.requests} request{'s' if self.requests != 1 else ''} from "
            f"{self.customers} customer{'s' if self.customers != 1 else ''}, "
            f"{cash(self.revenue)} revenue, {cash(self.open_pipeline)} open pipeline"
            f"{weighted}"
        )

    def money(self, amount: Decimal) -> str:
        return money(amount, self.currency)


SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(amount: Decimal, currency: str | None = None) -> str:
    """$1.2M, €340k, CHF 900: how a product manager reads an amount at a glance."""
    value = float(amount)
    sign = SYMBOLS.get(currency or "USD", f"{currency} ")
    if abs(value) >= 1_000_000:
        return f"{sign}{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{sign}{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{sign}{value / 1000:.1f}k"
    return f"{sign}{value:,.0f}"


def utcnow() -> datetime:
    return datetime.now(UTC)
