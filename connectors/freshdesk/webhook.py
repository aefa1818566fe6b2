"""Freshdesk webhooks (an automation rule's "Trigger webhook" action).

Freshdesk signs nothing: the automation sends the shared secret in `X-Pmsync-Secret`.
The body is whatever JSON the rule's author wrote; the usual shape carries the ticket
as `{"ticket_id": {{ticket.id}}}` (or `{"freshdesk_webhook": {"ticket_id": ...}}`).
Dedupe on a `delivery_id` or `event_id` in the body when the author added one, else on a
hash of the body (two identical bodies are then one delivery: include a changing field,
such as the update time, in the template).
"""

from __future__ import annotations

from typing import Any

from connectors import shared_secret
from connectors.freshdesk.settings import FreshdeskSettings
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

SECRET_ENV = "PMSYNC_FRESHDESK_WEBHOOK_SECRET"
SECRET_HEADER = "X-Pmsync-Secret"
HEADERS: tuple[str, ...] = ()


def verifier(settings: FreshdeskSettings) -> Verifier | None:
    return keyed(settings.freshdesk_webhook_secret, shared_secret.verify, SECRET_HEADER)


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    key = pick(payload, "delivery_id") or pick(payload, "event_id")
    return [Delivery(delivery_id(key, request.body), payload)]


def hints(payload: Any) -> list[Hint]:
    found = [
        pick(payload, "ticket_id"),
        pick(payload, "ticket", "id"),
        pick(payload, "freshdesk_webhook", "ticket_id"),
    ]
    return unique([Hint("freshdesk", "ticket", t) for t in map(record_id, found) if t])
