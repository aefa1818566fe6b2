"""Intercom's records (conversations, contacts, companies, admins), built from the world."""

import html
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from sandbox.world import World

APP_ID = "sbx7acme"
ADMIN_ID = "5016999"  # the demo integration's own admin, as `GET /me` reports it
# The world's feedback statuses in Intercom's conversation states.
STATES = {
    "new": "open",
    "open": "open",
    "pending": "snoozed",
    "solved": "closed",
    "closed": "closed",
}


@dataclass
class IntercomStore:
    conversations: dict[str, dict[str, Any]]
    contacts: dict[str, dict[str, Any]]
    companies: dict[str, dict[str, Any]]
    admins: dict[str, dict[str, Any]]
    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> `GET /tags` entry
    # Open company scrolls: scroll_param -> the last company id served (sandbox.intercom).
    scrolls: dict[str, str] = field(default_factory=dict)
    next_id: int = 31_000_000_000
    tenant_applied: bool = False  # the tenant profile's variations are in (sandbox.intercom)

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)


def unix(when: datetime) -> int:
    return int(when.timestamp())


def html_body(text: str) -> str:
    """Plain text as Intercom stores message bodies: escaped HTML paragraphs."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "br" or (tag == "p" and self.parts):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    """The plain text of an HTML body, as the tools derive it (Zendesk's `plain_body`,
    Freshdesk's `body_text`): tags dropped, entities decoded, a line per `<br>` or `<p>`."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def admin(aid: str, name: str, email: str) -> dict[str, Any]:
    return {
        "type": "admin",
        "id": aid,
        "name": name,
        "email": email,
        "email_verified": True,
        "avatar": {
            "type": "avatar",
            "image_url": "https://static.intercomassets.com/assets/default-avatars/admins/128.png",
        },
        "away_mode_enabled": False,
        "away_mode_reassign": False,
        "has_inbox_seat": True,
        "team_ids": [],
    }


def _company(account: Any, index: int, users: int) -> dict[str, Any]:
    return {
        "type": "company",
        "id": account.intercom_company_id,
        "company_id": f"acct-{index + 1:05d}",  # the customer id the vendor's app sends
        "app_id": APP_ID,
        "name": account.name,
        "remote_created_at": unix(account.created),
        "created_at": unix(account.created),
        "updated_at": unix(account.updated),
        "last_request_at": unix(account.updated),
        "monthly_spend": account.annual_revenue // 1200,
        "session_count": 0,
        "user_count": users,
        "size": None,
        "website": f"https://www.{account.domains[0]}",
        "industry": account.industry.replace("_", " ").title(),
        "plan": {"type": "plan", "id": str(100 + len(account.plan)), "name": account.plan},
        "custom_attributes": {"plan": account.plan},
        "tags": {"type": "tag.list", "tags": []},
        "segments": {"type": "segment.list", "segments": []},
    }


def _listed(contact_id: str, what: str, data: list[Any] | None = None) -> dict[str, Any]:
    items = data or []
    return {
        "type": "list",
        "data": items,
        "url": f"/contacts/{contact_id}/{what}",
        "total_count": len(items),
        "has_more": False,
    }


# The device and location attributes of Intercom's contact model (2.11): empty for people
# who wrote by email or from the web.
UNSEEN_DEVICE = {
    f"{platform}_{name}": None
    for platform in ("android", "ios")
    for name in ("app_name", "app_version", "device", "os_version", "sdk_version", "last_seen_at")
}


def _contact(person: Any, company: str | None) -> dict[str, Any]:
    stamp = unix(person.created)
    links = [{"id": company, "type": "company", "url": f"/companies/{company}"}] if company else []
    cid = str(person.id)
    return {
        "type": "contact",
        "id": person.id,
        "workspace_id": APP_ID,
        "external_id": None,
        "role": "user",
        "email": person.email,
        "phone": None,
        "name": person.name,
        "owner_id": None,
        "has_hard_bounced": False,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": False,
        "created_at": stamp,
        "updated_at": stamp,
        "signed_up_at": stamp,
        "last_seen_at": None,
        "last_replied_at": stamp,
        "last_contacted_at": None,
        "last_email_opened_at": None,
        "last_email_clicked_at": None,
        "avatar": None,
        "social_profiles": {"type": "list", "data": []},
        "language_override": None,
        "browser": None,
        "browser_version": None,
        "browser_language": None,
        "os": None,
        "location": {
            "type": "location",
            "country": None,
            "region": None,
            "city": None,
            "country_code": None,
            "continent_code": None,
        },
        **UNSEEN_DEVICE,
        "custom_attributes": {},
        "tags": _listed(cid, "tags"),
        "notes": _listed(cid, "notes"),
        "companies": _listed(cid, "companies", links),
        "opted_out_subscription_types": _listed(cid, "subscriptions"),
        "opted_in_subscription_types": _listed(cid, "subscriptions"),
        "utm_campaign": None,
        "utm_content": None,
        "utm_medium": None,
        "utm_source": None,
        "utm_term": None,
        "referrer": None,
    }


def build(world: World) -> IntercomStore:
    store = IntercomStore(
        {}, {}, {}, {ADMIN_ID: admin(ADMIN_ID, "Demo Integration", "demo@example.com")}
    )
    people = [p for p in world.people if p.tool == "intercom"]
    users: dict[int, int] = {}
    for p in people:
        if p.account is not None:
            users[p.account] = users.get(p.account, 0) + 1
    for index, account in enumerate(world.accounts):
        if account.intercom_company_id:
            store.companies[account.intercom_company_id] = _company(
                account, index, users.get(index, 0)
            )
    for p in people:
        if p.role == "agent":
            store.admins[str(p.id)] = admin(str(p.id), p.name, p.email)
        else:
            company = None if p.account is None else world.accounts[p.account].intercom_company_id
            store.contacts[str(p.id)] = _contact(p, company)
    tag_ids: dict[str, str] = {}
    for item in world.of_tool("intercom"):
        author = store.contacts[str(item.requester_id)]
        tags: list[dict[str, Any]] = [
            {
                "type": "tag",
                "id": tag_ids.setdefault(name, str(7_310_000 + 17 * len(tag_ids))),
                "name": name,
                "applied_at": unix(item.created),
                "applied_by": {"type": "admin", "id": str(item.assignee_id)},
            }
            for name in item.tags
        ]
        for tag in tags:
            store.tags.setdefault(tag["id"], {"type": "tag", "id": tag["id"], "name": tag["name"]})
        state = STATES[item.status]
        email = item.channel == "email"
        store.conversations[str(item.id)] = {
            "type": "conversation",
            "id": str(item.id),
            # A title is set by a teammate, rarely: chats and emails arrive untitled, and an
            # email's subject is in `source.subject`.
            "title": None,
            "created_at": unix(item.created),
            "updated_at": unix(item.updated),
            "waiting_since": unix(item.updated) if state == "open" else None,
            "snoozed_until": unix(item.updated) + 86400 * 3 if state == "snoozed" else None,
            "open": state != "closed",
            "state": state,
            "read": True,
            "priority": "priority" if item.priority == "urgent" else "not_priority",
            "admin_assignee_id": int(item.assignee_id),
            "team_assignee_id": None,
            "tags": {"type": "tag.list", "tags": tags},
            "conversation_rating": None,
            "source": {
                "type": "email" if email else "conversation",
                "id": str(item.id * 7 % 1_000_000_007),
                "delivered_as": "customer_initiated",
                "subject": item.subject if email else "",
                "body": html_body(item.description),
                "author": {
                    "type": "user",
                    "id": author["id"],
                    "name": author["name"],
                    "email": author["email"],
                },
                "attachments": [],
                "url": None,
                "redacted": False,
            },
            "contacts": {
                "type": "contact.list",
                "contacts": [{"type": "contact", "id": author["id"], "external_id": None}],
            },
            "teammates": {
                "type": "admin.list",
                "admins": [{"type": "admin", "id": str(item.assignee_id)}],
            },
            "custom_attributes": {
                "Category": "Feature request" if "feature_request" in item.tags else "Other"
            },
            "first_contact_reply": {
                "created_at": unix(item.created),
                "type": "conversation",
                "url": None,
            },
            "sla_applied": None,
            "statistics": None,
            "topics": {},
            "ticket": None,
            "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
            "ai_agent": None,
            "ai_agent_participated": False,
        }
    return store
