"""Zendesk webhooks.

Signed `x-zendesk-webhook-signature = base64(HMAC-SHA256(secret, timestamp + raw body))`,
the secret used as it is, with the timestamp in `x-zendesk-webhook-signature-timestamp`
(ISO 8601, e.g. `2021-07-25T10:00:00Z`). Dedupe on `x-zendesk-webhook-invocation-id`.
Only JSON bodies are read: configure the webhook's request format as JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.webhook import (
    Hint,
    Rejected,
    SignedRequest,
    Verifier,
    hmac_base64,
    keyed,
    pick,
    record_id,
    require_signature,
    signature,
    signed_object,
    signed_timestamp,
    unique,
)
from connectors.zendesk.settings import ZendeskSettings
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_ZENDESK_WEBHOOK_SECRET"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
HEADERS = (
    "x-zendesk-webhook-id",
    "x-zendesk-webhook-invocation-id",
    TIMESTAMP,
)

# Event webhooks name their record in `subject`: zen:ticket:123, zen:organization:7.
SUBJECT = re.compile(r"^zen:(ticket|organization|user):(\d+)$")


def verifier(settings: ZendeskSettings) -> Verifier | None:
    return keyed(settings.zendesk_webhook_secret, verify)


def verify(secret: bytes, request: SignedRequest) -> None:
    provided = signature(request, "x-zendesk-webhook-signature")
    timestamp = signed_timestamp(request, TIMESTAMP, _parse)
    require_signature(hmac_base64(secret, timestamp.encode("utf-8") + request.body), provided)


def _parse(timestamp: str) -> datetime:
    try:
        sent_at = datetime.fromisoformat(timestamp)
    except ValueError:
        raise Rejected("bad timestamp") from None
    return sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    key = request.header("x-zendesk-webhook-invocation-id")
    # The signature covers the timestamp and the body: a trigger's author-written body
    # may repeat from one event to the next, the signed pair does not.
    timestamp = request.header(TIMESTAMP).encode()
    return signed_object(payload, key, request, timestamp, request.body)


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
