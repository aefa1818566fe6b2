"""The help desks' webhook bodies (Zendesk, Intercom, Freshdesk); see `webhook_events`."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sandbox.freshdesk_data import API_AGENT_ID
from sandbox.intercom_data import APP_ID
from sandbox.webhook_events import API, Version, change_kind, now_iso
from sandbox.webhooks_out import Delivery, new_delivery_id
from sandbox.zendesk_data import API_USER_ID

ZENDESK_ACCOUNT = 10_000_001
FRESHDESK_STATUS: dict[Any, str] = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}


# -- Zendesk -------------------------------------------------------------------------------


def _zendesk_detail(ticket: dict[str, Any], actor_id: Any) -> dict[str, Any]:
    names = ("assignee_id", "brand_id", "group_id", "organization_id", "requester_id")
    detail: dict[str, Any] = {
        name: None if ticket.get(name) is None else str(ticket[name]) for name in names
    }
    detail.update(
        actor_id=str(actor_id),
        created_at=ticket.get("created_at"),
        description=ticket.get("description"),
        id=str(ticket.get("id")),
        is_public=ticket.get("is_public", True),
        priority=str(ticket.get("priority") or "").upper() or None,
        status=str(ticket.get("status") or "").upper(),
        subject=ticket.get("subject"),
        tags=list(ticket.get("tags") or []),
        type=str(ticket.get("type") or "").upper() or None,
        updated_at=ticket.get("updated_at"),
        via={"channel": (ticket.get("via") or {}).get("channel", "api")},
    )
    return detail


def _zendesk_events(before: Version, after: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if before is None:
        return [("ticket.created", {})]
    if after.get("status") == "deleted" and before.get("status") != "deleted":
        return [("ticket.soft_deleted", {})]
    events: list[tuple[str, dict[str, Any]]] = []
    old_tags, new_tags = set(before.get("tags") or ()), set(after.get("tags") or ())
    if old_tags != new_tags:
        added, removed = sorted(new_tags - old_tags), sorted(old_tags - new_tags)
        events.append(("ticket.tags_changed", {"tags_added": added, "tags_removed": removed}))
    for name, event in (
        ("status", "ticket.status_changed"),
        ("priority", "ticket.priority_changed"),
        ("subject", "ticket.subject_changed"),
        ("description", "ticket.description_changed"),
        ("organization_id", "ticket.organization_changed"),
        ("requester_id", "ticket.requester_changed"),
        ("assignee_id", "ticket.agent_assignment_changed"),
    ):
        if before.get(name) != after.get(name):
            upper = name in ("status", "priority")
            old, new = before.get(name), after.get(name)
            events.append(
                (
                    event,
                    {
                        "previous": str(old).upper() if upper and old else old,
                        "current": str(new).upper() if upper and new else new,
                    },
                )
            )
    return events


def _zendesk_event(
    subject: str, kind: str, detail: dict[str, Any], event: dict[str, Any], actor: str
) -> list[Delivery]:
    """One event webhook; `subject` is `<type>:<id>`, as in `zen:ticket:42`."""
    body: dict[str, Any] = {
        "account_id": ZENDESK_ACCOUNT,
        "detail": detail,
        "event": event,
        "id": str(uuid.uuid4()),
        "subject": f"zen:{subject}",
        "time": now_iso(),
        "type": f"zen:event-type:{kind}",
        "zendesk_event_version": "2022-11-06",
    }
    record = [f"zendesk/{subject.replace(':', '/')}"]
    return [Delivery("zendesk", body["type"], new_delivery_id("zendesk"), body, record, actor)]


def zendesk_ticket(
    before: Version,
    after: Version,
    new_comments: list[dict[str, Any]],
    actor: str,
    agent_id: Any,
) -> list[Delivery]:
    ticket = after or before
    if ticket is None:
        return []
    actor_id = API_USER_ID if actor == API else agent_id
    events = _zendesk_events(before, after) if after is not None else []
    if after is None:
        events = [("ticket.permanently_deleted", {})]
    stamps = ("updated_at", "generated_timestamp")
    if not events and not new_comments and before is not None and after is not None:
        moved = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        if moved - set(stamps):  # a field no other event names (custom fields, type, ...)
            events = [("ticket.custom_field_changed", {})]
    for comment in new_comments:
        author = comment.get("author_id")
        events.append(
            (
                "ticket.comment_added",
                {
                    "comment": {
                        "id": str(comment.get("id")),
                        "body": comment.get("body"),
                        "is_public": bool(comment.get("public")),
                        "author": {
                            "id": str(author),
                            "is_staff": author != ticket.get("requester_id"),
                            "name": "Demo Integration" if author == API_USER_ID else "",
                        },
                    }
                },
            )
        )
    deliveries: list[Delivery] = []
    for kind, event in events:
        detail = _zendesk_detail(ticket, actor_id)
        deliveries += _zendesk_event(f"ticket:{ticket.get('id')}", kind, detail, event, actor)
    return deliveries


def zendesk_other(kind: str, before: Version, after: Version, actor: str) -> list[Delivery]:
    """Organisations and users: one `*.custom_field_changed`-style event for any change."""
    record = after or before
    if record is None:
        return []
    change = change_kind(before, after)
    event = {"created": "created", "deleted": "deleted"}.get(change, "custom_field_changed")
    detail: dict[str, Any] = {
        k: record.get(k) for k in ("id", "name", "email", "updated_at") if k in record
    }
    return _zendesk_event(f"{kind}:{record.get('id')}", f"{kind}.{event}", detail, {}, actor)


# -- Intercom ------------------------------------------------------------------------------


def _intercom_topic(before: Version, after: Version) -> str:
    if before is None:
        return "conversation.user.created"
    if after is None:
        return "conversation.deleted"
    if before.get("state") != after.get("state"):
        return {"closed": "conversation.admin.closed", "snoozed": "conversation.admin.snoozed"}.get(
            str(after.get("state")), "conversation.admin.opened"
        )
    if (before.get("tags") or {}) != (after.get("tags") or {}):
        return "conversation_part.tag.created"
    return "conversation.user.replied"


def _intercom_body(topic: str, item: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "type": "notification_event",
        "app_id": APP_ID,
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": new_delivery_id("intercom"),
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": now,
        "created_at": now,
        "self": None,
    }


def intercom_conversation(
    before: Version,
    after: Version,
    new_parts: list[dict[str, Any]],
    actor: str,
) -> list[Delivery]:
    conversation = after or before
    if conversation is None:
        return []
    if new_parts:
        kind = new_parts[-1].get("part_type")
        topic = "conversation.admin.noted" if kind == "note" else "conversation.admin.replied"
    else:
        topic = _intercom_topic(before, after)
    item: dict[str, Any] = dict(conversation) if after is not None else {"type": "conversation"}
    item["id"] = str(conversation.get("id"))
    item["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": new_parts,
        "total_count": len(new_parts),
    }
    body = _intercom_body(topic, item)
    record = [f"intercom/conversation/{conversation.get('id')}"]
    return [Delivery("intercom", topic, body["id"], body, record, actor)]


def intercom_other(kind: str, before: Version, after: Version, actor: str) -> list[Delivery]:
    record = after or before
    if record is None:
        return []
    change = change_kind(before, after)
    topic = f"contact.user.{change}" if kind == "contact" else f"company.{change}"
    body = _intercom_body(topic, {"type": kind, **dict(after or {"id": record.get("id")})})
    name = [f"intercom/{kind}/{record.get('id')}"]
    return [Delivery("intercom", topic, body["id"], body, name, actor)]


# -- Freshdesk -----------------------------------------------------------------------------


def _freshdesk_event(before: Version, after: Version, notes: list[dict[str, Any]]) -> str:
    if notes:
        private = notes[-1].get("private", True)
        return f"{{note_action:{'private' if private else 'public'}_note_added}}"
    if before is None:
        return "{ticket_action:created}"
    if after is None or (after.get("deleted") and not before.get("deleted")):
        return "{ticket_action:deleted}"
    if before.get("deleted") and not after.get("deleted"):
        return "{ticket_action:restored}"
    if before.get("status") != after.get("status"):
        old = FRESHDESK_STATUS.get(before.get("status"), before.get("status"))
        new = FRESHDESK_STATUS.get(after.get("status"), after.get("status"))
        return f"{{status:{{from:{old},to:{new}}}}}"
    return "{ticket_action:updated}"


def freshdesk_ticket(
    before: Version,
    after: Version,
    notes: list[dict[str, Any]],
    actor: str,
    requester_email: str | None = None,
) -> list[Delivery]:
    ticket = after or before
    if ticket is None:
        return []
    private = [n for n in notes if n.get("private")]
    public = [n for n in notes if not n.get("private")]
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "freshdesk_webhook": {
            "ticket_id": ticket.get("id"),
            "ticket_subject": ticket.get("subject"),
            "ticket_status": FRESHDESK_STATUS.get(ticket.get("status"), ticket.get("status")),
            "ticket_tags": ",".join(ticket.get("tags") or ()),
            "ticket_requester_email": requester_email,
            "ticket_updated_at": ticket.get("updated_at"),
            "ticket_latest_private_comment": private[-1].get("body") if private else "",
            "ticket_latest_public_comment": public[-1].get("body") if public else "",
            "triggered_event": _freshdesk_event(before, after, notes),
            "triggered_by": str(API_AGENT_ID if actor == API else ticket.get("responder_id")),
        },
    }
    record = [f"freshdesk/ticket/{ticket.get('id')}"]
    return [Delivery("freshdesk", "ticket", event_id, body, record, actor)]
