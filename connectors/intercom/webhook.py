"""Intercom webhooks (notification events).

Signed `X-Hub-Signature: sha1=<hex HMAC-SHA1(client_secret, raw body)>`; no timestamp, so
the dedupe on the notification `id` is what stops a replay. `delivery_attempts` and
`delivered_at` change between retries: a hash of the body would not dedupe them.
"""

from __future__ import annotations

from typing import Any

from connectors.intercom.settings import IntercomSettings
from connectors.webhook import (
    Hint,
    SignedRequest,
    Verifier,
    keyed,
    pick,
    record_id,
    signed_object,
    verify_hub_signature,
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
    return keyed(settings.intercom_client_secret, verify_hub_signature, "sha1")


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    # The notification's body (its own id and created_at included) is what is signed.
    return signed_object(payload, pick(payload, "id"), request)


def hints(payload: Any) -> list[Hint]:
    """The notification's item: `data.item` with its `type` and `id`."""
    item = pick(payload, "data", "item")
    kind = KINDS.get(str(pick(item, "type")))
    item_id = record_id(pick(item, "id"))
    return [Hint("intercom", kind, item_id)] if kind and item_id else []
