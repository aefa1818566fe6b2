"""Jira Cloud admin webhooks.

Signed `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`; no timestamp. The
inbox dedupes on `X-Atlassian-Webhook-Identifier`, which stays the same across Jira's
retries (it retries 408/409/425/429/5xx for about 30 minutes), and on a hash of the signed
body: the identifier is not signed, so a captured body resent with a new identifier is
still recognised. Every event's body carries its own `timestamp` (ms), so two events never
share one.
"""

from __future__ import annotations

from typing import Any

from connectors.jira.settings import JiraSettings
from connectors.webhook import (
    Hint,
    SignedRequest,
    Verifier,
    keyed,
    pick,
    record_id,
    signed_object,
    unique,
    verify_hub_signature,
)
from store.inbox import Delivery

SECRET_ENV = "PMSYNC_JIRA_WEBHOOK_SECRET"
HEADERS = ("x-atlassian-webhook-identifier", "x-atlassian-webhook-retry")


def verifier(settings: JiraSettings) -> Verifier | None:
    return keyed(settings.jira_webhook_secret, verify_hub_signature, "sha256")


def deliveries(payload: Any, request: SignedRequest) -> list[Delivery]:
    return signed_object(payload, request.header("x-atlassian-webhook-identifier"), request)


def hints(payload: Any) -> list[Hint]:
    """The issue of issue and comment events; both ends of an issue link."""
    found = [
        pick(payload, "issue", "id") or pick(payload, "issue", "key"),
        pick(payload, "issueLink", "sourceIssueId"),
        pick(payload, "issueLink", "destinationIssueId"),
    ]
    return unique([Hint("jira", "issue", i) for i in map(record_id, found) if i])
