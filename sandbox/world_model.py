"""The seeded world's records, independent of any vendor's API, and the random helpers that
every part of the generator shares."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

PROJECT = "ANA"
DAY = 86400
SUPPORT_TOOLS = ("zendesk", "intercom", "freshdesk")
CRMS = ("hubspot", "salesforce")

Id = TypeVar("Id", int, str)


@dataclass(frozen=True)
class Sizes:
    issues: int = 40
    accounts: int = 30
    crm_only_accounts: int = 4
    free_mail_people: int = 6
    feedback: int = 300
    deals: int = 80

    def scaled(self, scale: int) -> "Sizes":
        return Sizes(*(n * scale for n in vars(self).values()))


@dataclass(frozen=True)
class Issue:
    key: str
    id: str
    feature: int  # index into catalog.FEATURES
    summary: str
    description: str
    component: str
    labels: tuple[str, ...]
    status: str  # "To Do" | "In Progress" | "Done"
    priority: str
    fix_version: str | None
    assignee: str
    created: datetime
    updated: datetime
    resolved: datetime | None


@dataclass(frozen=True)
class Account:
    """A customer company: in one or more support tools, and in exactly one CRM."""

    name: str
    domains: tuple[str, ...]  # first is the primary domain (the CRM's `domain`)
    plan: str
    industry: str
    annual_revenue: int
    support: tuple[str, ...]  # the SUPPORT_TOOLS its people write from; empty: CRM only
    crm: str  # one of CRMS
    zendesk_org_id: int | None
    intercom_company_id: str | None  # Intercom's own `id`, not the customer-given company_id
    freshdesk_company_id: int | None
    hubspot_company_id: str | None
    salesforce_account_id: str | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class Person:
    tool: str  # the support tool that holds this user, contact or agent
    id: int | str  # Intercom's contact and admin ids are strings
    name: str
    email: str
    account: int | None  # index into World.accounts; None for free-mail writers and staff
    role: str  # "end-user" or "agent"
    created: datetime


@dataclass(frozen=True)
class Feedback:
    """A support ticket or conversation; `status` uses Zendesk's words, which each tool's
    store maps to its own (Intercom states, Freshdesk status numbers)."""

    tool: str
    id: int
    subject: str
    description: str
    status: str  # "new" | "open" | "pending" | "solved" | "closed"
    priority: str | None
    type: str
    tags: tuple[str, ...]
    requester_id: int | str
    account: int | None
    assignee_id: int | str
    channel: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class JiraLink:
    id: int
    ticket_id: int
    issue_id: str
    issue_key: str
    created: datetime


@dataclass(frozen=True)
class Deal:
    """A CRM deal; `stage` uses HubSpot's internal stage names, mapped for Salesforce."""

    crm: str
    id: str
    name: str
    amount: int
    stage: str
    close_date: datetime
    created: datetime
    updated: datetime
    account: int  # index into World.accounts
    issue_keys: tuple[str, ...]


@dataclass(frozen=True)
class TruthLink:
    source: str  # a support tool or a CRM
    kind: str  # "feedback" | "deal"
    record_id: str  # the id as the tool's API returns it, as a string
    issue_key: str
    method: str  # "cited_key" | "zendesk_jira_link" | "deal_field" | "text" | "jira_remote_link"


@dataclass(frozen=True)
class RemoteLink:
    """A Jira remote link that a support tool's or CRM's Jira app put on an issue, pointing
    back at a ticket, conversation or deal."""

    id: int
    issue_key: str
    issue_id: str
    tool: str  # a support tool or a CRM
    kind: str  # "feedback" | "deal"
    record_id: str  # the id as the tool's API returns it, as a string
    created: datetime


@dataclass(frozen=True)
class World:
    seed: int
    now: datetime
    issues: tuple[Issue, ...]
    accounts: tuple[Account, ...]
    people: tuple[Person, ...]
    feedback: tuple[Feedback, ...]
    jira_links: tuple[JiraLink, ...]
    deals: tuple[Deal, ...]
    truth: tuple[TruthLink, ...]
    remote_links: tuple[RemoteLink, ...] = ()

    def of_tool(self, tool: str) -> list[Feedback]:
        return [f for f in self.feedback if f.tool == tool]

    def customers_in(self, id_in_tool: Callable[[Account], Id | None]) -> list[tuple[Id, Account]]:
        """The accounts one tool holds, with their id there (`id_in_tool` is None elsewhere)."""
        return [(i, a) for a in self.accounts if (i := id_in_tool(a)) is not None]


def ago(rng: random.Random, now: datetime, lo_days: float, hi_days: float) -> datetime:
    return now - timedelta(seconds=rng.randint(int(lo_days * DAY), int(hi_days * DAY)))


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randint(0, max(0, int((end - start).total_seconds()))))


def increasing_ids(rng: random.Random, base: int, n: int, max_step: int) -> list[int]:
    ids, current = [], base
    for _ in range(n):
        current += rng.randint(1, max_step)
        ids.append(current)
    return ids
