"""The CRMs' webhook bodies (HubSpot, Salesforce); see `webhook_events`."""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.salesforce_data import USER_ID
from sandbox.webhook_events import API, Version, now_ms
from sandbox.webhooks_out import Delivery

HUBSPOT_PORTAL, HUBSPOT_APP = 62515, 1160452
HUBSPOT_PERSON = "userId:4410001"
SALESFORCE_PERSON = "005Dn000000sPm8IAE"
# HubSpot does not notify its own roll-ups.
HUBSPOT_UNNOTIFIED = {"hs_lastmodifieddate", "hs_lastmodifieddate_ms"}


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
        "occurredAt": now_ms(),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": int(object_id) if str(object_id).isdigit() else object_id,
        **source,
        **extra,
    }


def hubspot_object(kind: str, before: Version, after: Version, actor: str) -> list[Delivery]:
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


def salesforce_record(sobject: str, before: Version, after: Version, actor: str) -> list[Delivery]:
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
