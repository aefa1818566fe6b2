"""What each vendor sends when one of its records changes: the webhook bodies, built from a
record before and after the change (None before: created; None after: deleted).

- Jira admin webhooks: `jira:issue_updated` with a `changelog` of the fields that moved,
  `comment_created`/`comment_updated`, `issue_property_set`; bodies in the REST v2 shape
  (plain-text comments), as Jira sends them.
- Zendesk event webhooks (`zendesk_event_version` 2022-11-06): one event per kind of
  change, `subject: zen:ticket:<id>`, the ticket in `detail`.
- HubSpot webhooks v3: one array of events, one per changed property.
- Intercom notification events: `topic` and the conversation in `data.item`.
- Freshdesk and Salesforce send what their automation's author wrote: here a Freshdesk
  "Trigger webhook" template with the usual placeholders, and a Salesforce record-triggered
  flow's callout with the records as sObjects (`new` and `old`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.freshdesk_data import API_AGENT_ID
from sandbox.intercom_data import APP_ID
from sandbox.jira_data import (
    API_USER,
    NUMBER_FIELDS,
    OTHER_CUSTOM_FIELDS,
    adf_text,
    person,
    render_comment,
    render_issue,
)
from sandbox.salesforce_data import USER_ID
from sandbox.webhooks_out import Delivery, new_delivery_id
from sandbox.zendesk_data import API_USER_ID

API, PERSON = "api", "person"
JIRA_PERSON = person("Dana Whitfield")
HUBSPOT_PORTAL, HUBSPOT_APP = 62515, 1160452
HUBSPOT_PERSON = "userId:4410001"
SALESFORCE_PERSON = "005Dn000000sPm8IAE"
ZENDESK_ACCOUNT = 10_000_001
# Jira's changelog names system fields by their lower-case id; custom fields by name.
CUSTOM_NAMES = {**NUMBER_FIELDS, **{k: v[0] for k, v in OTHER_CUSTOM_FIELDS.items()}}
UNLOGGED = {"updated", "comment", "lastViewed", "watches", "votes"}
FRESHDESK_STATUS: dict[Any, str] = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
# HubSpot does not notify its own roll-ups.
HUBSPOT_UNNOTIFIED = {"hs_lastmodifieddate", "hs_lastmodifieddate_ms"}


def _change(before: Any, after: Any) -> str:
    """What happened to a record, as the vendors' event names say it."""
    return "created" if before is None else "deleted" if after is None else "updated"


def _ms() -> int:
    return int(time.time() * 1000)


def _iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- Jira ----------------------------------------------------------------------------------


def _jira_user(actor: str) -> dict[str, Any]:
    return dict(API_USER) if actor == API else dict(JIRA_PERSON)


def _display(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_text(value)
        return str(value.get("name") or value.get("value") or value.get("key") or "")
    if isinstance(value, list):
        return " ".join(filter(None, (_display(v) for v in value)))
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def _value_id(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    if isinstance(value, list):
        ids = [str(v["id"]) for v in value if isinstance(v, dict) and v.get("id") is not None]
        return ", ".join(ids) or None
    return None


def changelog(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Jira's changelog items between two versions of an issue's fields."""
    items = []
    for fid in sorted(set(before) | set(after)):
        old, new = before.get(fid), after.get(fid)
        if fid in UNLOGGED or old == new:
            continue
        custom = fid.startswith("customfield_")
        items.append(
            {
                "field": CUSTOM_NAMES.get(fid, fid) if custom else fid,
                "fieldtype": "custom" if custom else "jira",
                "fieldId": fid,
                "from": _value_id(old),
                "fromString": _display(old),
                "to": _value_id(new),
                "toString": _display(new),
            }
        )
    return items


def _jira_issue(issue: dict[str, Any], base: str) -> dict[str, Any]:
    return render_issue(issue, [], "2", base, (True, set(), {"comment"}))


def remote_link_logged(link: Mapping[str, Any]) -> dict[str, Any]:
    """The changelog item Jira writes when a remote link is added or changed."""
    target = link.get("object")
    title = target.get("title") if isinstance(target, Mapping) else None
    return {
        "field": "RemoteIssueLink",
        "fieldtype": "jira",
        "fieldId": "RemoteIssueLink",
        "from": None,
        "fromString": None,
        "to": str(link.get("id")),
        "toString": f'This issue links to "{title} (Web Link)"',
    }


def jira_issue(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str,
    base: str,
    logged: tuple[dict[str, Any], ...] = (),
) -> list[Delivery]:
    """`logged`: history items that are not field changes, such as a new remote link."""
    issue = after or before
    if issue is None:
        return []
    record = [f"jira/issue/{issue.get('key')}"]
    body: dict[str, Any] = {"timestamp": _ms(), "user": _jira_user(actor)}
    if after is None:
        body.update(webhookEvent="jira:issue_deleted", issue_event_type_name="issue_deleted")
    elif before is None:
        body.update(webhookEvent="jira:issue_created", issue_event_type_name="issue_created")
    else:
        items = changelog(before.get("fields") or {}, after.get("fields") or {}) + list(logged)
        if not items:
            return []
        moved = any(item["fieldId"] == "status" for item in items)
        body.update(
            webhookEvent="jira:issue_updated",
            issue_event_type_name="issue_generic" if moved else "issue_updated",
            changelog={"id": str(uuid.uuid4().int % 10**8), "items": items},
        )
    body["issue"] = _jira_issue(issue, base)
    return [Delivery("jira", body["webhookEvent"], new_delivery_id("jira"), body, record, actor)]


def jira_comment(
    event: str, issue: dict[str, Any], comment: dict[str, Any], actor: str, base: str
) -> list[Delivery]:
    body = {
        "timestamp": _ms(),
        "webhookEvent": event,
        "comment": render_comment(comment, str(issue.get("id")), "2", base),
        "issue": {
            "id": str(issue.get("id")),
            "self": f"{base}/rest/api/2/issue/{issue.get('id')}",
            "key": issue.get("key"),
            "fields": {
                k: (issue.get("fields") or {}).get(k) for k in ("summary", "status", "issuetype")
            },
        },
    }
    record = [f"jira/issue/{issue.get('key')}"]
    return [Delivery("jira", event, new_delivery_id("jira"), body, record, actor)]


def jira_property(issue: dict[str, Any], name: str, value: Any, actor: str) -> list[Delivery]:
    body = {
        "timestamp": _ms(),
        "webhookEvent": "issue_property_set",
        "user": _jira_user(actor),
        "property": {"key": name, "value": value},
        "issue": {"id": str(issue.get("id")), "key": issue.get("key")},
    }
    record = [f"jira/issue/{issue.get('key')}"]
    return [Delivery("jira", "issue_property_set", new_delivery_id("jira"), body, record, actor)]


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


def _zendesk_events(
    before: dict[str, Any] | None, after: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
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


def zendesk_ticket(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
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
    record = [f"zendesk/ticket/{ticket.get('id')}"]
    deliveries = []
    for kind, event in events:
        body: dict[str, Any] = {
            "account_id": ZENDESK_ACCOUNT,
            "detail": _zendesk_detail(ticket, actor_id),
            "event": event,
            "id": str(uuid.uuid4()),
            "subject": f"zen:ticket:{ticket.get('id')}",
            "time": _iso(),
            "type": f"zen:event-type:{kind}",
            "zendesk_event_version": "2022-11-06",
        }
        deliveries.append(
            Delivery("zendesk", body["type"], new_delivery_id("zendesk"), body, record, actor)
        )
    return deliveries


def zendesk_other(
    kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None, actor: str
) -> list[Delivery]:
    """Organisations and users: one `*.custom_field_changed`-style event for any change."""
    record = after or before
    if record is None:
        return []
    change = _change(before, after)
    event = {"created": "created", "deleted": "deleted"}.get(change, "custom_field_changed")
    body: dict[str, Any] = {
        "account_id": ZENDESK_ACCOUNT,
        "detail": {k: record.get(k) for k in ("id", "name", "email", "updated_at") if k in record},
        "event": {},
        "id": str(uuid.uuid4()),
        "subject": f"zen:{kind}:{record.get('id')}",
        "time": _iso(),
        "type": f"zen:event-type:{kind}.{event}",
        "zendesk_event_version": "2022-11-06",
    }
    name = [f"zendesk/{kind}/{record.get('id')}"]
    return [Delivery("zendesk", body["type"], new_delivery_id("zendesk"), body, name, actor)]


# -- HubSpot -------------------------------------------------------------------------------


def _hubspot_event(subscription: str, object_id: Any, actor: str, **extra: Any) -> dict[str, Any]:
    source = (
        {"changeSource": "INTEGRATION", "sourceId": str(HUBSPOT_APP)}
        if actor == API
        else {"changeSource": "CRM_UI", "sourceId": HUBSPOT_PERSON}
    )
    return {
        "eventId": uuid.uuid4().int % 10**10,
        "subscriptionId": 2_300_001,
        "portalId": HUBSPOT_PORTAL,
        "appId": HUBSPOT_APP,
        "occurredAt": _ms(),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": int(object_id) if str(object_id).isdigit() else object_id,
        **source,
        **extra,
    }


def hubspot_object(
    kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None, actor: str
) -> list[Delivery]:
    """`kind` is HubSpot's singular object name: deal, company, contact."""
    record = after or before
    if record is None:
        return []
    oid = record.get("id")
    if after is None:
        events = [_hubspot_event(f"{kind}.deletion", oid, actor)]
    elif before is None:
        events = [_hubspot_event(f"{kind}.creation", oid, actor)]
    else:
        old, new = before.get("properties") or {}, after.get("properties") or {}
        events = [
            _hubspot_event(
                f"{kind}.propertyChange",
                oid,
                actor,
                propertyName=name,
                propertyValue="" if new.get(name) is None else str(new.get(name)),
            )
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name) and name not in HUBSPOT_UNNOTIFIED
        ]
    if not events:
        return []
    names = [f"hubspot/{kind}/{oid}"]
    event = str(events[0]["subscriptionType"])
    return [Delivery("hubspot", event, str(events[0]["eventId"]), events, names, actor)]


def hubspot_note(
    note: dict[str, Any], targets: list[tuple[str, str, dict[str, Any]]], actor: str
) -> list[Delivery]:
    """A note written through the API: its body (notes subscribed through the generic
    `object.*` events, type 0-46) and the roll-up it moves on each associated record."""
    props = note.get("properties") or {}
    events = [
        _hubspot_event(
            "object.propertyChange",
            note.get("id"),
            actor,
            objectTypeId="0-46",
            propertyName="hs_note_body",
            propertyValue=str(props.get("hs_note_body") or ""),
        )
    ]
    for kind, target_id, target in targets:
        value = (target.get("properties") or {}).get("notes_last_updated")
        events.append(
            _hubspot_event(
                f"{kind}.propertyChange",
                target_id,
                actor,
                propertyName="notes_last_updated",
                propertyValue=str(value or ""),
            )
        )
    names = [f"hubspot/note/{note.get('id')}"] + [f"hubspot/{k}/{t}" for k, t, _ in targets]
    event = "object.propertyChange"
    return [Delivery("hubspot", event, str(events[0]["eventId"]), events, names, actor)]


# -- Intercom ------------------------------------------------------------------------------


def _intercom_topic(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
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
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
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


def intercom_other(
    kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None, actor: str
) -> list[Delivery]:
    record = after or before
    if record is None:
        return []
    change = _change(before, after)
    topic = f"contact.user.{change}" if kind == "contact" else f"company.{change}"
    body = _intercom_body(topic, {"type": kind, **dict(after or {"id": record.get("id")})})
    name = [f"intercom/{kind}/{record.get('id')}"]
    return [Delivery("intercom", topic, body["id"], body, name, actor)]


# -- Freshdesk -----------------------------------------------------------------------------


def _freshdesk_event(
    before: dict[str, Any] | None, after: dict[str, Any] | None, notes: list[dict[str, Any]]
) -> str:
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
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
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


# -- Salesforce ----------------------------------------------------------------------------


def _sobject(sobject: str, record: dict[str, Any], actor: str) -> dict[str, Any]:
    return {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v60.0/sobjects/{sobject}/{record.get('Id')}",
        },
        **record,
        "LastModifiedById": USER_ID if actor == API else SALESFORCE_PERSON,
    }


def salesforce_record(
    sobject: str, before: dict[str, Any] | None, after: dict[str, Any] | None, actor: str
) -> list[Delivery]:
    record = after or before
    if record is None:
        return []
    deleted = after is None or (after.get("IsDeleted") and not (before or {}).get("IsDeleted"))
    change = "created" if before is None else "deleted" if deleted else "updated"
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "sobject": sobject,
        "change": change,
        "new": [_sobject(sobject, record, actor)],
    }
    if before is not None:
        body["old"] = [_sobject(sobject, before, actor)]
    name = [f"salesforce/{sobject.lower()}/{record.get('Id')}"]
    return [Delivery("salesforce", f"{sobject}.{change}", body["event_id"], body, name, actor)]
