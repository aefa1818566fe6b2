"""HubSpot webhooks, signature v3.

`X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client_secret, method + uri + raw body +
timestamp))`, the timestamp in `X-HubSpot-Request-Timestamp` (epoch ms). The uri is the
full URL HubSpot called, scheme and host included: behind a proxy that rewrites them, set
the receiver's public base URL (`pmsync webhooks --public-url`). The body is a JSON array
of events, each with its own `eventId`; each event is one inbox row, deduplicated alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.hubspot.settings import HubSpotSettings
from connectors.webhook import (
    Hint,
    Rejected,
    SignedRequest,
    Verifier,
    canonical,
    delivery_id,
    hmac_base64,
    keyed,
    pick,
    record_id,
    require_signature,
    signature,
    signed_timestamp,
    unique,
)
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_HUBSPOT_CLIENT_SECRET"
HEADERS = ("x-hubspot-request-timestamp",)

# HubSpot's validation guide: decode these escapes in the URI before signing it.
URI_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

# Generic `object.*` events name the object by type id instead of by name.
OBJECT_TYPES = {"0-1": "contact", "0-2": "company", "0-3": "deal"}
KINDS = frozenset(OBJECT_TYPES.values())


def verifier(settings: HubSpotSettings) -> Verifier | None:
    return keyed(settings.hubspot_client_secret, verify)


def verify(secret: bytes, request: SignedRequest) -> None:
    provided = signature(request, "x-hubspot-signature-v3")
    timestamp = signed_timestamp(request, "x-hubspot-request-timestamp", _parse)
    signed = (
        request.method.encode("utf-8")
        + signed_uri(request.uri).encode("utf-8")
        + request.body
        + timestamp.encode("utf-8")
    )
    require_signature(hmac_base64(secret, signed), provided)


def _parse(timestamp: str) -> datetime:
    # isdigit() alone lets through "²" and other digits int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise Rejected("bad timestamp")
    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected("bad timestamp") from None


def signed_uri(uri: str) -> str:
    for escape, char in URI_ESCAPES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    if not isinstance(payload, list):
        raise Rejected("expected a JSON array of events", status=400)
    events = [event for event in payload if isinstance(event, dict)]
    if payload and not events:
        raise Rejected("expected a JSON array of events", status=400)
    # A malformed event in a batch is dropped alone: its valid siblings are kept.
    payload = events
    # HubSpot documents `eventId` as not guaranteed unique: an event is keyed on its own
    # fields (id, object, subscription, property, time, value) so that two distinct events
    # sharing an eventId are never merged, and a retried or replayed one is one event.
    return [Delivery(event_key(event), event) for event in payload]


def event_key(event: dict[str, Any]) -> str:
    """One event's identity, `<eventId>:<hash of its fields>` (the hash alone without an
    eventId). The retry count is left out: HubSpot raises it on each retry of one event."""
    content = canonical({k: v for k, v in event.items() if k != "attemptNumber"})
    digest = delivery_id(None, content)
    event_id = record_id(pick(event, "eventId"))
    return f"{event_id}:{digest.removeprefix('sha256:')[:16]}" if event_id else digest


def hints(payload: Any) -> list[Hint]:
    """One stored event (or a whole delivery's array): `<kind>.<change>` with
    `objectId`; associations name both ends; merges the survivor and the merged."""
    events = payload if isinstance(payload, list) else [payload]
    found: list[Hint] = []
    for event in events:
        subscription = str(pick(event, "subscriptionType") or "")
        kind = subscription.partition(".")[0]
        if kind == "object":
            kind = OBJECT_TYPES.get(str(pick(event, "objectTypeId")), "")
        if subscription.endswith(".associationChange"):
            ends = str(pick(event, "associationType") or "").lower().split("_to_")
            if len(ends) == 2:
                found += _hints(ends[0], pick(event, "fromObjectId"))
                found += _hints(ends[1], pick(event, "toObjectId"))
            continue
        found += _hints(kind, pick(event, "objectId"))
        found += _hints(kind, pick(event, "primaryObjectId"))
        merged = pick(event, "mergedObjectIds")
        for value in merged if isinstance(merged, list) else []:
            found += _hints(kind, value)
    return unique(found)


def _hints(kind: str, value: Any) -> list[Hint]:
    object_id = record_id(value)
    return [Hint("hubspot", kind, object_id)] if kind in KINDS and object_id else []
