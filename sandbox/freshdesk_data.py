"""Freshdesk's records (tickets, contacts, companies, notes), built from the world."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.intercom_data import html_body, html_text
from sandbox.timefmt import zendesk_time
from sandbox.world import World

API_AGENT_ID = 43_009_999_001  # the demo API key's agent: author of notes written through it
# The world's statuses and priorities in Freshdesk's numbers.
STATUSES = {"new": 2, "open": 2, "pending": 3, "solved": 4, "closed": 5}
PRIORITIES = {"low": 1, None: 1, "normal": 2, "high": 3, "urgent": 4}
SOURCES = {"email": 1, "web": 2, "chat": 7}


@dataclass
class FreshdeskStore:
    tickets: dict[Any, dict[str, Any]]
    contacts: dict[Any, dict[str, Any]]
    companies: dict[Any, dict[str, Any]]
    conversations: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 43_020_000_000
    tenant_applied: bool = False  # the tenant profile's variations are in (sandbox.freshdesk)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def fd_time(when: datetime) -> str:
    return zendesk_time(when)  # Freshdesk writes the same ISO 8601 with a `Z`


def _contact(p: Any, company: int | None) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "email": p.email,
        "company_id": company,
        "active": True,
        "address": None,
        "description": None,
        "job_title": None,
        "language": "en",
        "mobile": None,
        "phone": None,
        "time_zone": "London",
        "twitter_id": None,
        "other_emails": [],
        "other_companies": [],
        "view_all_tickets": False,
        "deleted": False,
        "unique_external_id": None,
        "custom_fields": {},
        "tags": [],
        "created_at": fd_time(p.created),
        "updated_at": fd_time(p.created),
    }


def build(world: World) -> FreshdeskStore:
    store = FreshdeskStore({}, {}, {})
    company_of = {i: a.freshdesk_company_id for i, a in enumerate(world.accounts)}
    for company_id, account in world.customers_in(lambda a: a.freshdesk_company_id):
        store.companies[company_id] = {
            "id": company_id,
            "name": account.name,
            "description": None,
            "note": None,
            "domains": list(account.domains),
            "custom_fields": {"plan": account.plan},
            "health_score": None,
            "account_tier": "Premium" if account.plan == "enterprise" else "Basic",
            "renewal_date": None,
            "industry": account.industry.replace("_", " ").title(),
            "created_at": fd_time(account.created),
            "updated_at": fd_time(account.updated),
        }
    for p in world.people:
        if p.tool == "freshdesk" and p.role == "end-user":
            company = None if p.account is None else company_of[p.account]
            store.contacts[p.id] = _contact(p, company)
    for t in world.of_tool("freshdesk"):
        store.tickets[t.id] = {
            "id": t.id,
            "subject": t.subject,
            "description": html_body(t.description),
            "description_text": t.description,
            "status": STATUSES[t.status],
            "priority": PRIORITIES[t.priority],
            "source": SOURCES[t.channel],
            "type": "Feature Request" if "feature_request" in t.tags else "Question",
            "requester_id": t.requester_id,
            "responder_id": t.assignee_id,
            "company_id": None if t.account is None else company_of[t.account],
            "group_id": None,
            "product_id": None,
            "email_config_id": None,
            "tags": list(t.tags),
            "custom_fields": {
                "cf_category": "feature_request" if "feature_request" in t.tags else "other"
            },
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "ticket_cc_emails": [],
            "to_emails": None,
            "fr_escalated": False,
            "spam": False,
            "is_escalated": False,
            "association_type": None,
            "support_email": None,
            "due_by": fd_time(t.created + timedelta(days=3)),
            "fr_due_by": fd_time(t.created + timedelta(days=1)),
            "created_at": fd_time(t.created),
            "updated_at": fd_time(t.updated),
        }
    return store


def note(
    nid: int, ticket_id: Any, body: str, private: bool, user_id: int, now: datetime
) -> dict[str, Any]:
    stamp = fd_time(now)
    return {
        "id": nid,
        "body": body,
        "body_text": html_text(body),  # `body` is HTML, `body_text` its plain text
        "incoming": False,
        "private": private,
        "user_id": user_id,
        "support_email": None,
        "source": 2,  # a note
        "ticket_id": ticket_id,
        "to_emails": [],
        "from_email": None,
        "cc_emails": [],
        "bcc_emails": None,
        "attachments": [],
        "created_at": stamp,
        "updated_at": stamp,
    }
