"""Salesforce callouts (a record-triggered flow's HTTP callout, or Apex).

Salesforce signs nothing here: the callout sends the shared secret in the header named by
`PMSYNC_SALESFORCE_WEBHOOK_HEADER` (default `X-Pmsync-Secret`). Outbound Messages (SOAP)
are not read: send JSON. Dedupe on `delivery_id`, `event_id` or a platform event's
`EventUuid` when the body has one, else on a hash of the body.
"""

from __future__ import annotations

from typing import Any

from connectors import shared_secret
from connectors.salesforce.settings import SalesforceSettings
from connectors.webhook import (
    Hint,
    SignedRequest,
    Verifier,
    delivery_id,
    keyed,
    pick,
    record_id,
    unique,
)
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_SALESFORCE_WEBHOOK_SECRET"
HEADERS: tuple[str, ...] = ()

KINDS = {"opportunity": "opportunity", "account": "account"}
# A record id's first three characters name its object: 006 Opportunity, 001 Account.
PREFIXES = {"006": "opportunity", "001": "account"}


def verifier(settings: SalesforceSettings) -> Verifier | None:
    header = settings.salesforce_webhook_header
    return keyed(settings.salesforce_webhook_secret, shared_secret.verify, header)


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    key = next(
        (
            pick(payload, name)
            for name in ("delivery_id", "event_id", "EventUuid")
            if pick(payload, name)
        ),
        None,
    )
    return [Delivery(delivery_id(key, request.body), payload)]


def hints(payload: Any) -> list[Hint]:
    """sObjects as Salesforce serialises them (`attributes.type` and `Id`), alone, in a
    list or under `records`/`new`; Change Data Capture headers (`entityName`,
    `recordIds`); a bare `recordId` or `Id`, typed by its prefix."""
    found: list[Hint] = []
    items = list(payload) if isinstance(payload, list) else [payload]
    for key in ("records", "new"):
        nested = pick(payload, key)
        if isinstance(nested, list):
            items += nested
    for item in items:
        change = pick(item, "ChangeEventHeader") or pick(item, "payload", "ChangeEventHeader")
        if isinstance(change, dict):
            ids = change.get("recordIds")
            for value in ids if isinstance(ids, list) else []:
                found += _hints(change.get("entityName"), value)
        object_type = pick(item, "attributes", "type") or pick(item, "objectType")
        for name in ("Id", "recordId"):
            found += _hints(object_type, pick(item, name))
    return unique(found)


def _hints(object_type: Any, value: Any) -> list[Hint]:
    sf_id = record_id(value)
    if not sf_id:
        return []
    kind = KINDS.get(str(object_type).lower()) if object_type else PREFIXES.get(sf_id[:3])
    return [Hint("salesforce", kind, sf_id)] if kind else []
