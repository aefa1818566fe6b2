"""Intercom webhooks (notification events).

Signed `X-Hub-Signature: sha1=<hex HMAC-SHA1(client_secret, raw body)>`; no timestamp, so
the dedupe on the notification `id` is what stops a replay. `delivery_attempts` and
`delivered_at` change between retries: a hash of the body would not dedupe them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.intercom.settings import IntercomSettings
from connectors.webhook import (
    Hint,
    Rejected,
    SignedRequest,
    Verifier,
    delivery_id,
    fingerprint,
    hmac_hex,
    pick,
    record_id,
    require_object,
    same,
    secret_bytes,
)
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_INTERCOM_CLIENT_SECRET"
HEADERS: tuple[str, ...] = ()

# Older API versions call a contact a user or a lead.
KINDS = {
    "conversation": "conversation",
    "contact": "contact",
    "user": "contact",
    "lead": "contact",
    "company": "company",
}


def verifier(settings: IntercomSettings) -> Verifier | None:
    secret = secret_bytes(settings.intercom_client_secret)
    return partial(verify, secret) if secret else None


def verify(secret: bytes, request: SignedRequest) -> None:
    provided = request.header("x-hub-signature")
    if not provided:
        raise Rejected("missing signature")
    if not same("sha1=" + hmac_hex(secret, request.body, "sha1"), provided):
        raise Rejected("bad signature")


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    require_object(payload)
    # The notification's body (its own id and created_at included) is what is signed.
    key = delivery_id(payload.get("id"), request.body)
    return [Delivery(key, payload, fingerprint=fingerprint(request.body))]


def hints(payload: Any) -> list[Hint]:
    """The notification's item: `data.item` with its `type` and `id`."""
    item = pick(payload, "data", "item")
    kind = KINDS.get(str(pick(item, "type")))
    item_id = record_id(pick(item, "id"))
    return [Hint("intercom", kind, item_id)] if kind and item_id else []
