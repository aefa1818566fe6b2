"""Zendesk webhooks.

Signed `x-zendesk-webhook-signature = base64(HMAC-SHA256(secret, timestamp + raw body))`,
the secret used as it is, with the timestamp in `x-zendesk-webhook-signature-timestamp`
(ISO 8601, e.g. `2021-07-25T10:00:00Z`). Dedupe on `x-zendesk-webhook-invocation-id`.
Only JSON bodies are read: configure the webhook's request format as JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from connectors.webhook import (
    Hint,
    Rejected,
    SignedRequest,
    Verifier,
    delivery_id,
    fingerprint,
    hmac_base64,
    pick,
    record_id,
    require_fresh,
    require_object,
    same,
    secret_bytes,
    unique,
)
from connectors.zendesk.settings import ZendeskSettings
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_ZENDESK_WEBHOOK_SECRET"
HEADERS = (
    "x-zendesk-webhook-id",
    "x-zendesk-webhook-invocation-id",
    "x-zendesk-webhook-signature-timestamp",
)

# Event webhooks name their record in `subject`: zen:ticket:123, zen:organization:7.
SUBJECT = re.compile(r"^zen:(ticket|organization|user):(\d+)$")


def verifier(settings: ZendeskSettings) -> Verifier | None:
    secret = secret_bytes(settings.zendesk_webhook_secret)
    return partial(verify, secret) if secret else None


def verify(secret: bytes, request: SignedRequest) -> None:
    provided = request.header("x-zendesk-webhook-signature")
    timestamp = request.header("x-zendesk-webhook-signature-timestamp")
    if not provided:
        raise Rejected("missing signature")
    if not timestamp:
        raise Rejected("missing timestamp")
    require_fresh(_parse(timestamp), request.now)
    if not same(hmac_base64(secret, timestamp.encode("utf-8") + request.body), provided):
        raise Rejected("bad signature")


def _parse(timestamp: str) -> datetime:
    try:
        sent_at = datetime.fromisoformat(timestamp)
    except ValueError:
        raise Rejected("bad timestamp") from None
    return sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    require_object(payload)
    key = delivery_id(request.header("x-zendesk-webhook-invocation-id"), request.body)
    # The signature covers the timestamp and the body: a trigger's author-written body
    # may repeat from one event to the next, the signed pair does not.
    signed = fingerprint(
        request.header("x-zendesk-webhook-signature-timestamp").encode(), request.body
    )
    return [Delivery(key, payload, fingerprint=signed)]


def hints(payload: Any) -> list[Hint]:
    """Event webhooks: `subject`. Trigger webhooks carry the JSON their author wrote;
    the usual shapes are `{"ticket": {"id": "{{ticket.id}}"}}` and `{"ticket_id": ...}`."""
    found: list[Hint] = []
    subject = SUBJECT.match(str(pick(payload, "subject") or ""))
    if subject:
        found.append(Hint("zendesk", subject[1], subject[2]))
    for value in (pick(payload, "ticket", "id"), pick(payload, "ticket_id")):
        ticket = record_id(value)
        if ticket:
            found.append(Hint("zendesk", "ticket", ticket))
    return unique(found)
