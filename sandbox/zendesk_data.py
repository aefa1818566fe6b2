"""Zendesk Support's records as the API stores them, built from the world."""

import base64
import binascii
import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.intercom_data import html_text
from sandbox.timefmt import order_time, zendesk_time
from sandbox.world import World

API_USER_ID = 381_999_999_001
BRAND_ID, GROUP_ID, CATEGORY_FIELD = 360_000_104_521, 360_000_211_093, 360_012_776_402


@dataclass
class ZendeskStore:
    tickets: dict[Any, dict[str, Any]]
    users: dict[Any, dict[str, Any]]
    organizations: dict[Any, dict[str, Any]]
    comments: dict[Any, list[dict[str, Any]]]
    jira_links: list[dict[str, Any]]
    next_id: int = 41_000_000_000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


# The world's ticket fields a Zendesk ticket carries under the same name, as they are.
TICKET_AS_IS = ("type", "subject", "description", "priority", "status", "assignee_id")


def record_key(value: Any) -> Any:
    """Ids are integers in Zendesk; injected records may carry anything."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int | str) else str(value)


def comment(
    cid: int,
    author: int,
    body: str,
    public: bool,
    created: datetime,
    channel: str = "api",
    html_body: str | None = None,
) -> dict[str, Any]:
    """A comment written as `body` (plain text: Zendesk makes its HTML) or as `html_body`
    (HTML: Zendesk keeps it, and `body` and `plain_body` are its text)."""
    if html_body is None:
        markup = "<p>" + "</p><p>".join(html.escape(p) for p in body.split("\n\n")) + "</p>"
    else:
        markup, body = html_body, html_text(html_body)
    return {
        "id": cid,
        "type": "Comment",
        "author_id": author,
        "body": body,
        "html_body": f'<div class="zd-comment" dir="auto">{markup}</div>',
        "plain_body": body,
        "public": public,
        "attachments": [],
        "audit_id": cid + 7,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": zendesk_time(created),
        "metadata": {"system": {}, "custom": {}},
    }


def build(world: World) -> ZendeskStore:
    """The world's Zendesk records (a `messy` tenant's edge cases are added on top of them
    by sandbox.zendesk_messy.add_messy)."""
    store = ZendeskStore({}, {}, {}, {}, [])
    org_of = {i: a.zendesk_org_id for i, a in enumerate(world.accounts)}
    for org_id, account in world.customers_in(lambda a: a.zendesk_org_id):
        store.organizations[org_id] = {
            "id": org_id,
            "name": account.name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": None,
            "created_at": zendesk_time(account.created),
            "updated_at": zendesk_time(account.updated),
            "domain_names": list(account.domains),
            "details": "",
            "notes": "",
            "group_id": None,
            "tags": [account.plan],
            "organization_fields": {},
        }
    people: list[tuple[Any, str, str, int | None, str, datetime]] = [
        (p.id, p.name, p.email, None if p.account is None else org_of[p.account], p.role, p.created)
        for p in world.people
        if p.tool == "zendesk"
    ]
    people.append((API_USER_ID, "Demo Integration", "demo@example.com", None, "admin", world.now))
    for pid, name, email, org, role, created in people:
        store.users[pid] = user_record(pid, name, email, role, created, organization_id=org)
    for t in world.of_tool("zendesk"):
        org = None if t.account is None else org_of[t.account]
        category = "feature_request" if "feature_request" in t.tags else t.tags[0]
        same = {name: getattr(t, name) for name in TICKET_AS_IS}
        store.tickets[t.id] = ticket_record(
            t.id,
            t.requester_id,
            t.channel,
            t.created,
            t.updated,
            raw_subject=t.subject,
            organization_id=org,
            tags=list(t.tags),
            custom_fields=[{"id": CATEGORY_FIELD, "value": category}],
            fields=[{"id": CATEGORY_FIELD, "value": category}],
            **same,
        )
        store.comments[t.id] = [
            comment(store.new_id(), int(t.requester_id), t.description, True, t.created, t.channel)
        ]
    for link in world.jira_links:
        stamp = zendesk_time(link.created)
        store.jira_links.append(
            {
                "id": link.id,
                "ticket_id": link.ticket_id,
                "issue_id": link.issue_id,
                "issue_key": link.issue_key,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    return store


def user_record(
    uid: int, name: str, email: str | None, role: str, created: datetime, **fields: Any
) -> dict[str, Any]:
    """A user with every key a recorded Zendesk user has; `fields` set the others."""
    return {
        "id": uid,
        "name": name,
        "email": email,
        "created_at": zendesk_time(created),
        "updated_at": zendesk_time(created),
        "time_zone": "London",
        "iana_time_zone": "Europe/London",
        "phone": None,
        "locale": "en-US",
        "locale_id": 1,
        "organization_id": None,
        "role": role,
        "verified": True,
        "active": True,
        "suspended": False,
        "external_id": None,
        "tags": [],
        "user_fields": {},
        "details": "",
        "notes": "",
        "shared": False,
        # The rest of a recorded user's keys (zenpy's and Airbyte's recordings).
        "alias": "",
        "photo": None,
        "shared_phone_number": None,
        "shared_agent": False,
        "last_login_at": None,
        "two_factor_auth_enabled": None,
        "signature": None,
        "custom_role_id": None,
        "role_type": None,
        "moderator": role == "admin",
        "ticket_restriction": None if role == "admin" else "requested",
        "only_private_comments": False,
        "restricted_agent": role != "admin",
        "chat_only": False,
        "default_group_id": None,
        "report_csv": False,
        **fields,
    }


def ticket_record(
    tid: int, requester: Any, channel: str, created: datetime, updated: datetime, **fields: Any
) -> dict[str, Any]:
    """A ticket with every key a recorded Zendesk ticket has; `fields` set the others."""
    return {
        "id": tid,
        "external_id": None,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": zendesk_time(created),
        "updated_at": zendesk_time(updated),
        "generated_timestamp": int(updated.timestamp()),
        "type": None,
        "subject": None,
        "raw_subject": None,
        "description": None,
        "priority": None,
        "status": "open",
        "recipient": None,
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": None,
        "organization_id": None,
        "group_id": GROUP_ID,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": [],
        "custom_fields": [{"id": CATEGORY_FIELD, "value": None}],
        "fields": [{"id": CATEGORY_FIELD, "value": None}],
        "satisfaction_rating": None,
        "sharing_agreement_ids": [],
        "followup_ids": [],
        "brand_id": BRAND_ID,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
        **fields,
    }


def export_position(ticket: dict[str, Any], now: datetime) -> tuple[int, int]:
    """Where a ticket sits in the incremental export: generated_timestamp, then id."""
    stamp = ticket.get("generated_timestamp")
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        stamp = int(order_time(ticket.get("updated_at"), now).timestamp())
    tid = ticket.get("id")
    return stamp, tid if isinstance(tid, int) and not isinstance(tid, bool) else 0


def encode_export_cursor(position: tuple[int, int]) -> str:
    # Shaped like Zendesk's own cursors: base64 of "<timestamp>.0||<id>|".
    return base64.b64encode(f"{position[0]}.0||{position[1]}|".encode()).decode()


def decode_export_cursor(cursor: str) -> tuple[int, int]:
    try:
        stamp, _, rest = base64.b64decode(cursor, validate=True).decode().partition("||")
        return int(float(stamp)), int(rest.rstrip("|"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(cursor) from exc
