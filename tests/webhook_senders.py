"""Webhook deliveries as each vendor sends them: one builder per vendor, signing the way
that vendor signs (docs/api-notes.md), and a receiver on a test store."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from pydantic import SecretStr

from connectors.settings import Settings
from store import Inbox, Store
from webhooks import create_app

if TYPE_CHECKING:
    from starlette.testclient import TestClient

NOW = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
BASE = "http://testserver"
MARKER = "BODY-MARKER-7f3a"  # in every payload: it must never reach a log line
SECRETS = {
    "jira": "jira-secret-4f1c",
    "zendesk": "zendesk-secret-9b2e",
    "hubspot": "hubspot-secret-77d0",
    "intercom": "intercom-secret-c3a8",
    "freshdesk": "freshdesk-secret-e51b",
    "salesforce": "salesforce-secret-0d9f",
}
SECRET_FIELDS = {
    "jira": "jira_webhook_secret",
    "zendesk": "zendesk_webhook_secret",
    "hubspot": "hubspot_client_secret",
    "intercom": "intercom_client_secret",
    "freshdesk": "freshdesk_webhook_secret",
    "salesforce": "salesforce_webhook_secret",
}
SALESFORCE_HEADER = "X-Sf-Token"


# -- builders: one per vendor, signing as the vendor signs ----------------------------------


def _hmac(secret: str, message: bytes, digest: str = "sha256") -> hmac.HMAC:
    return hmac.new(secret.encode(), message, digest)


@dataclass(frozen=True)
class Vendor:
    name: str
    timestamped: bool = False
    signs_body: bool = True
    # The header that carries the signature (or the shared secret), each vendor's own.
    signature: ClassVar[str]

    def payload(self, n: int, attempt: int) -> Any:
        raise NotImplementedError

    def delivery_headers(self, n: int, attempt: int) -> dict[str, str]:
        return {}

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        raise NotImplementedError

    def signature_headers(self) -> tuple[str, ...]:
        return (self.signature,)


class Jira(Vendor):
    signature = "X-Hub-Signature"

    def payload(self, n: int, attempt: int) -> Any:
        return {
            "timestamp": 1714558830000,
            "webhookEvent": "jira:issue_updated",
            "issue": {"id": str(10000 + n), "key": f"ANA-{n}", "fields": {"summary": MARKER}},
            "changelog": {"items": [{"field": "status", "toString": "Done"}]},
        }

    def delivery_headers(self, n: int, attempt: int) -> dict[str, str]:
        # The identifier stays the same across Jira's retries.
        return {
            "X-Atlassian-Webhook-Identifier": f"jira-delivery-{n}",
            "X-Atlassian-Webhook-Retry": str(attempt),
        }

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {self.signature: "sha256=" + _hmac(secret, body).hexdigest()}


class Timestamped(Vendor):
    """Signs base64(HMAC-SHA256) over a message that holds the send time, and sends that
    time in a header of its own, so a receiver can refuse a replayed old delivery."""

    timestamp_header: ClassVar[str]

    def stamp(self, sent_at: datetime) -> str:
        raise NotImplementedError

    def signed_message(self, body: bytes, timestamp: str, url: str) -> bytes:
        raise NotImplementedError

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        timestamp = self.stamp(sent_at)
        digest = _hmac(secret, self.signed_message(body, timestamp, url)).digest()
        return {
            self.signature: base64.b64encode(digest).decode(),
            self.timestamp_header: timestamp,
        }


class Zendesk(Timestamped):
    signature = "x-zendesk-webhook-signature"
    timestamp_header = "x-zendesk-webhook-signature-timestamp"

    def payload(self, n: int, attempt: int) -> Any:
        return {
            "type": "zen:event-type:ticket.comment_added",
            "id": f"event-{n}",
            "subject": f"zen:ticket:{n}",
            "time": "2024-05-01T10:20:30Z",
            "detail": {"id": str(n), "subject": MARKER},
        }

    def delivery_headers(self, n: int, attempt: int) -> dict[str, str]:
        return {
            "x-zendesk-webhook-id": "01HWEBHOOK",
            "x-zendesk-webhook-invocation-id": f"invocation-{n}",
        }

    def stamp(self, sent_at: datetime) -> str:
        return sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def signed_message(self, body: bytes, timestamp: str, url: str) -> bytes:
        return timestamp.encode() + body


class HubSpot(Timestamped):
    signature = "X-HubSpot-Signature-v3"
    timestamp_header = "X-HubSpot-Request-Timestamp"

    def payload(self, n: int, attempt: int) -> Any:
        return [
            {
                "eventId": 1000 + n,
                "subscriptionId": 12345,
                "portalId": 62515,
                "appId": 54321,
                "occurredAt": 1714558830000,
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": attempt,
                "objectId": 5000 + n,
                "propertyName": "dealname",
                "propertyValue": MARKER,
                "changeSource": "CRM",
            }
        ]

    def stamp(self, sent_at: datetime) -> str:
        return str(int(sent_at.timestamp() * 1000))

    def signed_message(self, body: bytes, timestamp: str, url: str) -> bytes:
        return b"POST" + url.encode() + body + timestamp.encode()


class Intercom(Vendor):
    signature = "X-Hub-Signature"

    def payload(self, n: int, attempt: int) -> Any:
        # A retry changes delivery_attempts: only the notification id dedupes it.
        return {
            "type": "notification_event",
            "app_id": "abc123",
            "id": f"notif_{n}",
            "topic": "conversation.user.replied",
            "delivery_attempts": attempt + 1,
            "first_sent_at": 1714558830,
            "data": {
                "type": "notification_event_data",
                "item": {"type": "conversation", "id": str(n), "title": MARKER},
            },
        }

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {self.signature: "sha1=" + _hmac(secret, body, "sha1").hexdigest()}


class Freshdesk(Vendor):
    signature = "X-Pmsync-Secret"

    def payload(self, n: int, attempt: int) -> Any:
        return {"freshdesk_webhook": {"ticket_id": n, "ticket_subject": MARKER}}

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {self.signature: secret}


class Salesforce(Vendor):
    signature = SALESFORCE_HEADER

    def payload(self, n: int, attempt: int) -> Any:
        return {
            "attributes": {"type": "Opportunity"},
            "Id": f"006{n:015d}",
            "Name": MARKER,
            "EventUuid": f"uuid-{n}",
        }

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {self.signature: secret}


VENDORS = [
    Jira("jira"),
    Zendesk("zendesk", timestamped=True),
    HubSpot("hubspot", timestamped=True),
    Intercom("intercom"),
    Freshdesk("freshdesk", signs_body=False),
    Salesforce("salesforce", signs_body=False),
]
TIMESTAMPED = [v for v in VENDORS if v.timestamped]


def settings(store_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": store_url,
        "salesforce_webhook_header": SALESFORCE_HEADER,
        **{field: SecretStr(SECRETS[tool]) for tool, field in SECRET_FIELDS.items()},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(store: Store, store_url: str) -> Iterator[TestClient]:
    # Imported here, not at the top: tests/conftest.py registers this module for every test,
    # and only the webhook tests need the test client.
    from starlette.testclient import TestClient

    with TestClient(create_app(settings(store_url), store, clock=lambda: NOW)) as client:
        yield client


@pytest.fixture
def inbox(store: Store) -> Inbox:
    return store.inbox


def body_of(vendor: Vendor, n: int = 1, attempt: int = 0) -> bytes:
    return json.dumps(vendor.payload(n, attempt)).encode()


def post(
    client: TestClient,
    vendor: Vendor,
    body: bytes,
    *,
    n: int = 1,
    attempt: int = 0,
    secret: str | None = None,
    sent_at: datetime = NOW,
    signed_body: bytes | None = None,
    path: str | None = None,
    signed_url: str | None = None,
    drop: tuple[str, ...] = (),
) -> Any:
    """POST as the vendor would: delivery headers, then the signature over `signed_body`
    (the body itself unless a test tampers with it after signing)."""
    path = path or f"/webhooks/{vendor.name}"
    headers = {"Content-Type": "application/json", **vendor.delivery_headers(n, attempt)}
    headers.update(
        vendor.sign(
            body if signed_body is None else signed_body,
            SECRETS[vendor.name] if secret is None else secret,
            sent_at,
            signed_url or BASE + path,
        )
    )
    for name in drop:
        headers.pop(name)
    return client.post(path, content=body, headers=headers)


def deliver(client: TestClient, vendor: Vendor, n: int = 1, attempt: int = 0, **kw: Any) -> Any:
    return post(client, vendor, body_of(vendor, n, attempt), n=n, attempt=attempt, **kw)
