"""The webhook receiver, vendor by vendor: what is accepted, what is refused, what is kept.

Every vendor runs through the same matrix with a builder that signs the way that vendor
does (docs/api-notes.md): a valid delivery is stored once; a forged, tampered, missing or
stale signature is refused with 401 and leaves the inbox empty.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from typer.testing import CliRunner

from models import Settings
from store import Inbox, Store
from webhooks import TOOLS, create_app
from webhooks.app import MAX_BODY

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

    def payload(self, n: int, attempt: int) -> Any:
        raise NotImplementedError

    def delivery_headers(self, n: int, attempt: int) -> dict[str, str]:
        return {}

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        raise NotImplementedError

    def signature_headers(self) -> tuple[str, ...]:
        raise NotImplementedError


class Jira(Vendor):
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
        return {"X-Hub-Signature": "sha256=" + _hmac(secret, body).hexdigest()}

    def signature_headers(self) -> tuple[str, ...]:
        return ("X-Hub-Signature",)


class Zendesk(Vendor):
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

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        timestamp = sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = _hmac(secret, timestamp.encode() + body).digest()
        return {
            "x-zendesk-webhook-signature": base64.b64encode(digest).decode(),
            "x-zendesk-webhook-signature-timestamp": timestamp,
        }

    def signature_headers(self) -> tuple[str, ...]:
        return ("x-zendesk-webhook-signature",)


class HubSpot(Vendor):
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

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        timestamp = str(int(sent_at.timestamp() * 1000))
        digest = _hmac(secret, b"POST" + url.encode() + body + timestamp.encode()).digest()
        return {
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
            "X-HubSpot-Request-Timestamp": timestamp,
        }

    def signature_headers(self) -> tuple[str, ...]:
        return ("X-HubSpot-Signature-v3",)


class Intercom(Vendor):
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
        return {"X-Hub-Signature": "sha1=" + _hmac(secret, body, "sha1").hexdigest()}

    def signature_headers(self) -> tuple[str, ...]:
        return ("X-Hub-Signature",)


class Freshdesk(Vendor):
    def payload(self, n: int, attempt: int) -> Any:
        return {"freshdesk_webhook": {"ticket_id": n, "ticket_subject": MARKER}}

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {"X-Pmsync-Secret": secret}

    def signature_headers(self) -> tuple[str, ...]:
        return ("X-Pmsync-Secret",)


class Salesforce(Vendor):
    def payload(self, n: int, attempt: int) -> Any:
        return {
            "attributes": {"type": "Opportunity"},
            "Id": f"006{n:015d}",
            "Name": MARKER,
            "EventUuid": f"uuid-{n}",
        }

    def sign(self, body: bytes, secret: str, sent_at: datetime, url: str) -> dict[str, str]:
        return {SALESFORCE_HEADER: secret}

    def signature_headers(self) -> tuple[str, ...]:
        return (SALESFORCE_HEADER,)


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


# -- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_valid_delivery_is_stored_pending_before_202(
    client: TestClient, inbox: Inbox, vendor: Vendor
) -> None:
    """A correctly signed delivery answers 202 and is already committed: one pending row
    with the payload and the delivery headers, but no signature or secret among them."""
    response = deliver(client, vendor)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "new": 1, "duplicates": 0}
    [event] = inbox.events()
    assert (event.tool, event.status, event.attempts) == (vendor.name, "pending", 0)
    expected = vendor.payload(1, 0)
    assert event.payload == (expected[0] if vendor.name == "hubspot" else expected)
    assert event.received_at == NOW
    assert SECRETS[vendor.name] not in json.dumps(event.headers)
    signature_headers = {header.lower() for header in vendor.signature_headers()}
    assert signature_headers.isdisjoint(event.headers)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_redelivery_is_stored_once(client: TestClient, inbox: Inbox, vendor: Vendor) -> None:
    """The vendor's retry (same delivery id, re-signed, a later timestamp, an attempt
    counter that moved) answers 202 and stores nothing new; another event is stored."""
    assert deliver(client, vendor, n=1).status_code == 202
    retry = deliver(client, vendor, n=1, attempt=1, sent_at=NOW + timedelta(seconds=30))
    assert retry.status_code == 202
    assert retry.json() == {"accepted": 1, "new": 0, "duplicates": 1}
    assert deliver(client, vendor, n=2).status_code == 202
    assert len(inbox.events()) == 2
    assert inbox.backlog() == 2


# -- refused: 401 and nothing stored --------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_forged_signature_is_refused(client: TestClient, inbox: Inbox, vendor: Vendor) -> None:
    """Signed with another secret: 401, nothing stored."""
    response = deliver(client, vendor, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json() == {"error": "bad signature"}
    assert inbox.events() == []


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_tampered_body_is_refused(client: TestClient, inbox: Inbox, vendor: Vendor) -> None:
    """The body changed after it was signed: 401, nothing stored."""
    if not vendor.signs_body:
        pytest.skip(f"{vendor.name} sends a shared secret and signs nothing: TLS guards its body")
    signed = body_of(vendor, n=1)
    tampered = signed.replace(MARKER.encode(), b"forged content")
    response = post(client, vendor, tampered, signed_body=signed)
    assert response.status_code == 401
    assert inbox.events() == []


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_missing_signature_is_refused(client: TestClient, inbox: Inbox, vendor: Vendor) -> None:
    response = deliver(client, vendor, drop=vendor.signature_headers())
    assert response.status_code == 401
    assert response.json() == {"error": "missing signature"}
    assert inbox.events() == []


@pytest.mark.parametrize("vendor", TIMESTAMPED, ids=lambda v: v.name)
@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(hours=-2), False),
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=6), False),
    ],
    ids=["just-stale", "old", "just-fresh", "future"],
)
def test_timestamp_window(
    client: TestClient, inbox: Inbox, vendor: Vendor, offset: timedelta, accepted: bool
) -> None:
    """A correctly signed delivery outside five minutes of now is a replay: 401."""
    response = deliver(client, vendor, sent_at=NOW + offset)
    if accepted:
        assert response.status_code == 202
        assert len(inbox.events()) == 1
    else:
        assert response.status_code == 401
        assert response.json() == {"error": "stale timestamp"}
        assert inbox.events() == []


@pytest.mark.parametrize("vendor", TIMESTAMPED, ids=lambda v: v.name)
def test_missing_or_garbled_timestamp_is_refused(
    client: TestClient, inbox: Inbox, vendor: Vendor
) -> None:
    body = body_of(vendor)
    headers = vendor.sign(body, SECRETS[vendor.name], NOW, f"{BASE}/webhooks/{vendor.name}")
    stamp = next(h for h in headers if "timestamp" in h.lower())
    for value in (None, b"yesterday", b"\xb2", b"9" * 40, b"-1"):
        sent: dict[str, str | bytes] = {k: v for k, v in headers.items() if k != stamp}
        if value is not None:
            sent[stamp] = value
        response = client.post(f"/webhooks/{vendor.name}", content=body, headers=sent)
        assert response.status_code == 401
    assert inbox.events() == []


def test_zendesk_timestamp_is_part_of_the_signature(client: TestClient, inbox: Inbox) -> None:
    """Moving Zendesk's timestamp header forward (to pass the window) breaks the signature."""
    vendor = Zendesk("zendesk", timestamped=True)
    body = body_of(vendor)
    headers = vendor.sign(body, SECRETS["zendesk"], NOW - timedelta(hours=1), "")
    headers["x-zendesk-webhook-signature-timestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post("/webhooks/zendesk", content=body, headers=headers).status_code == 401
    assert inbox.events() == []


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
@pytest.mark.parametrize("secret", [None, ""], ids=["unset", "empty"])
def test_tool_without_secret_accepts_nothing(
    store: Store, store_url: str, vendor: Vendor, secret: str | None, caplog: Any
) -> None:
    """No secret configured: even a delivery 'signed' with the empty secret is refused."""
    field = SECRET_FIELDS[vendor.name]
    value = SecretStr(secret) if secret is not None else None
    app = create_app(settings(store_url, **{field: value}), store, clock=lambda: NOW)
    caplog.set_level(logging.INFO)
    with TestClient(app) as client:
        response = deliver(client, vendor, secret="")
    assert response.status_code == 401
    assert response.json() == {"error": "not configured"}
    assert store.inbox.events() == []
    assert f"tool={vendor.name} status=401 reason=not configured" in caplog.text


# -- HubSpot signs the URL ------------------------------------------------------------------


def test_hubspot_behind_a_proxy_uses_the_public_url(store: Store, store_url: str) -> None:
    """HubSpot signs the URL it called; behind a proxy pmsync sees another one. With the
    public URL configured the signature over the public URL passes, the internal one not."""
    public = "https://hooks.example.com/pmsync"
    app = create_app(settings(store_url), store, public_url=public + "/", clock=lambda: NOW)
    vendor = HubSpot("hubspot", timestamped=True)
    with TestClient(app) as client:
        internal = deliver(client, vendor, n=1)
        assert internal.status_code == 401
        public_signed = deliver(client, vendor, n=2, signed_url=f"{public}/webhooks/hubspot")
        assert public_signed.status_code == 202
    assert [e.payload["eventId"] for e in store.inbox.events()] == [1002]


def test_hubspot_signature_covers_the_query_string(client: TestClient, inbox: Inbox) -> None:
    vendor = HubSpot("hubspot", timestamped=True)
    path = "/webhooks/hubspot?portal=62515"
    assert deliver(client, vendor, path=path, signed_url=f"{BASE}/webhooks/hubspot").status_code
    assert deliver(client, vendor, path=path).status_code == 202
    assert len(inbox.events()) == 1


def test_hubspot_decodes_the_escapes_its_guide_lists(client: TestClient, inbox: Inbox) -> None:
    """HubSpot signs the URI with %3A, %2F... decoded: a query carrying them still passes."""
    vendor = HubSpot("hubspot", timestamped=True)
    path = "/webhooks/hubspot?next=https%3A%2F%2Fexample.com"
    signed = f"{BASE}/webhooks/hubspot?next=https://example.com"
    assert deliver(client, vendor, path=path, signed_url=signed).status_code == 202


def test_hubspot_batch_stores_each_event_once(client: TestClient, inbox: Inbox) -> None:
    """A batch is split per eventId: re-sending it with one more event stores only that
    one; an event without an eventId is keyed by its content."""
    vendor = HubSpot("hubspot", timestamped=True)
    first = vendor.payload(1, 0) + vendor.payload(2, 0)
    second = vendor.payload(1, 1) + vendor.payload(2, 1) + vendor.payload(3, 0)
    anonymous = [{k: v for k, v in vendor.payload(4, 0)[0].items() if k != "eventId"}]
    for batch, new in ((first, 2), (second, 1), (anonymous, 1), (anonymous, 0)):
        response = post(client, vendor, json.dumps(batch).encode())
        assert response.status_code == 202
        assert response.json()["new"] == new
    ids = [e.delivery_id for e in inbox.events()]
    assert [i.partition(":")[0] for i in ids[:3]] == ["1001", "1002", "1003"]
    assert ids[3].startswith("sha256:")


def test_hubspot_events_sharing_an_eventid_are_two_events(client: TestClient, inbox: Inbox):
    """HubSpot documents eventId as not guaranteed unique: two different events with one
    eventId are both stored, while a retry of either (attemptNumber raised) is not."""
    vendor = HubSpot("hubspot", timestamped=True)
    [one] = vendor.payload(1, 0)
    other = dict(one, objectId=one["objectId"] + 1)
    retry = dict(one, attemptNumber=one.get("attemptNumber", 0) + 1)
    for batch, new in (([one], 1), ([other], 1), ([retry], 0)):
        response = post(client, vendor, json.dumps(batch).encode())
        assert response.status_code == 202 and response.json()["new"] == new


def test_hubspot_empty_batch_stores_nothing(client: TestClient, inbox: Inbox) -> None:
    response = post(client, HubSpot("hubspot", timestamped=True), b"[]")
    assert response.status_code == 202
    assert inbox.events() == []


# -- shared-secret tools --------------------------------------------------------------------


def test_salesforce_reads_its_secret_from_the_configured_header(
    client: TestClient, inbox: Inbox
) -> None:
    """The secret in the default header is not looked at when another one is configured."""
    body = body_of(Salesforce("salesforce"))
    wrong = {"X-Pmsync-Secret": SECRETS["salesforce"]}
    assert client.post("/webhooks/salesforce", content=body, headers=wrong).status_code == 401
    right = {SALESFORCE_HEADER: SECRETS["salesforce"]}
    assert client.post("/webhooks/salesforce", content=body, headers=right).status_code == 202


def test_shared_secret_prefix_or_extension_is_refused(client: TestClient, inbox: Inbox) -> None:
    body = body_of(Freshdesk("freshdesk"))
    secret = SECRETS["freshdesk"]
    for sent in (secret[:-1], secret + "x", secret.upper(), "é" + secret):
        headers = {"X-Pmsync-Secret": sent.encode("utf-8")}
        response = client.post("/webhooks/freshdesk", content=body, headers=headers)
        assert response.status_code == 401
    assert inbox.events() == []


def test_body_without_an_id_dedupes_on_its_hash(client: TestClient, inbox: Inbox) -> None:
    """Freshdesk sends no delivery id: the same body twice is one event, another body is
    another; a body that names its own `delivery_id` is keyed by it."""
    vendor = Freshdesk("freshdesk", signs_body=False)
    for payload in (
        {"ticket_id": 1},
        {"ticket_id": 1},
        {"ticket_id": 2},
        {"ticket_id": 3, "delivery_id": "d-1"},
        {"ticket_id": 3, "delivery_id": "d-1", "note": "retry"},
    ):
        assert post(client, vendor, json.dumps(payload).encode()).status_code == 202
    ids = [e.delivery_id for e in inbox.events()]
    assert len(ids) == 3 and ids[2] == "d-1"
    assert all(i.startswith("sha256:") for i in ids[:2])


# -- size, JSON, routes ---------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_oversize_body_is_refused_by_declared_length(
    client: TestClient, inbox: Inbox, vendor: Vendor
) -> None:
    """Over 1 MB: 413, even correctly signed, nothing stored."""
    body = b" " * MAX_BODY + body_of(vendor)
    response = post(client, vendor, body)
    assert response.status_code == 413
    assert inbox.events() == []


def test_declared_oversize_is_refused_before_reading(client: TestClient) -> None:
    """A Content-Length over 1 MB is refused on the header alone, body unread."""
    headers = {"Content-Length": str(MAX_BODY + 1), "X-Hub-Signature": "sha256=00"}
    response = client.post("/webhooks/jira", content=b"{}", headers=headers)
    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    assert response.status_code == 413


def test_oversize_chunked_body_is_refused_while_streaming(client: TestClient, inbox: Inbox) -> None:
    """A chunked body declares no length: the stream itself is cut past 1 MB."""

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 64 * 1024

    headers = {"X-Hub-Signature": "sha256=00"}
    response = client.post("/webhooks/jira", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert inbox.events() == []


def test_body_of_exactly_one_megabyte_is_accepted(client: TestClient, inbox: Inbox) -> None:
    vendor = Jira("jira")
    body = body_of(vendor)
    body = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(body) == MAX_BODY
    assert post(client, vendor, body).status_code == 202


@pytest.mark.parametrize("declared", [b"lots", b"\xb2", b"-1"])
def test_bad_content_length_is_refused(client: TestClient, declared: bytes) -> None:
    headers = {"Content-Length": declared, "X-Hub-Signature": b""}
    assert client.post("/webhooks/jira", content=b"{}", headers=headers).status_code == 400


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b'{"a": NaN}'])
def test_malformed_json_is_refused_once_signed(
    client: TestClient, inbox: Inbox, vendor: Vendor, body: bytes
) -> None:
    """Correctly signed garbage: 400. Unsigned garbage: 401 (the signature comes first)."""
    assert post(client, vendor, body).status_code == 400
    assert post(client, vendor, body, secret="wrong").status_code == 401
    assert inbox.events() == []


@pytest.mark.parametrize(
    ("vendor", "payload"),
    [
        (Jira("jira"), [1, 2]),
        (Zendesk("zendesk", timestamped=True), "ticket"),
        (Intercom("intercom"), None),
        (HubSpot("hubspot", timestamped=True), {"eventId": 1}),
        (HubSpot("hubspot", timestamped=True), [1, 2]),
    ],
    ids=["jira-array", "zendesk-string", "intercom-null", "hubspot-object", "hubspot-numbers"],
)
def test_wrong_json_shape_is_refused(
    client: TestClient, inbox: Inbox, vendor: Vendor, payload: Any
) -> None:
    assert post(client, vendor, json.dumps(payload).encode()).status_code == 400
    assert inbox.events() == []


def test_unknown_tool_is_404(client: TestClient, inbox: Inbox, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    response = client.post("/webhooks/github%0Aforged-line", content=b"{}")
    assert response.status_code == 404
    assert "status=404 reason=unknown tool" in caplog.text
    assert "\n" not in caplog.records[-1].getMessage()
    assert client.post("/webhooks/health", content=b"{}").status_code == 404
    assert inbox.events() == []


def test_health_lists_configured_tools_and_backlog(client: TestClient) -> None:
    assert deliver(client, Jira("jira")).status_code == 202
    assert client.get("/webhooks/health").json() == {
        "status": "ok",
        "configured": sorted(SECRETS),
        "backlog": 1,
    }


# -- logs -----------------------------------------------------------------------------------


def test_logs_name_tool_and_reason_never_body_or_secret(client: TestClient, caplog: Any) -> None:
    """Every rejection is one line with the tool and the reason; no log line, accepted or
    refused, carries a secret, a signature or any of the body."""
    caplog.set_level(logging.DEBUG)
    for vendor in VENDORS:
        deliver(client, vendor)
        deliver(client, vendor, n=2, secret="wrong")
        deliver(client, vendor, n=3, drop=vendor.signature_headers())
        deliver(client, vendor, n=4, sent_at=NOW - timedelta(hours=1))
        post(client, vendor, b"{" + MARKER.encode())
    text = caplog.text
    for secret in SECRETS.values():
        assert secret not in text
    assert MARKER not in text
    assert "sha256=" not in text and "sha1=" not in text
    rejections = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    # forged, missing and malformed for all; stale only where the vendor sends a timestamp
    assert len(rejections) == 3 * len(VENDORS) + len(TIMESTAMPED)
    for vendor in VENDORS:
        assert f"tool={vendor.name} status=401 reason=bad signature" in text
        assert f"tool={vendor.name} status=400 reason=malformed JSON" in text


def test_store_failure_is_503_and_logs_no_payload(
    client: TestClient, inbox: Inbox, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the inbox cannot commit, the vendor must not hear 202 (it would not retry),
    and the database error, which quotes the statement's parameters, is not logged."""

    def broken(self: Inbox, tool: str, deliveries: Any) -> int:
        raise RuntimeError(f"INSERT failed for {deliveries!r}")

    monkeypatch.setattr(Inbox, "add", broken)
    caplog.set_level(logging.INFO)
    response = deliver(client, Jira("jira"))
    assert response.status_code == 503
    assert "webhook not stored: tool=jira error=RuntimeError" in caplog.text
    assert MARKER not in caplog.text


# -- the command ----------------------------------------------------------------------------


def test_command_help_names_every_secret() -> None:
    from pmsync.cli import app

    result = CliRunner().invoke(app, ["webhooks", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for tool in TOOLS.values():
        assert tool.secret_env in result.output
    assert "PMSYNC_SALESFORCE_WEBHOOK_HEADER" in result.output
    assert "--public-url" in result.output


def test_command_serves_the_receiver_on_the_configured_store(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pmsync webhooks` hands uvicorn an app that stores into PMSYNC_DATABASE_URL."""
    import uvicorn

    from pmsync.cli import app

    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    monkeypatch.setenv("PMSYNC_DATABASE_URL", url)
    monkeypatch.setenv("PMSYNC_JIRA_WEBHOOK_SECRET", SECRETS["jira"])
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    result = CliRunner().invoke(app, ["webhooks", "--port", "9999"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 9999)
    with TestClient(served["app"]) as client:
        assert deliver(client, Jira("jira"), sent_at=datetime.now(UTC)).status_code == 202
    assert len(Store(url, upgrade=True).inbox.events()) == 1
    assert "Receiving webhooks for: jira" in result.output


# -- replays and numbers no store takes -----------------------------------------------------


def test_jira_body_replayed_under_a_new_identifier_is_a_duplicate(
    client: TestClient, inbox: Inbox
) -> None:
    """Jira's identifier header is not signed: a captured body resent with a new one is
    recognised by its signed body and stored nothing new."""
    vendor = Jira("jira")
    assert deliver(client, vendor, n=1).json()["new"] == 1
    replay = post(client, vendor, body_of(vendor, 1), n=2)  # identifier jira-delivery-2
    assert replay.status_code == 202 and replay.json()["new"] == 0
    assert len(inbox.events()) == 1


def test_a_number_past_a_float_is_refused_before_storage(client: TestClient, inbox: Inbox):
    """`1e400` would parse as infinity: stored on SQLite, refused by PostgreSQL on every
    retry. It is answered 400 and nothing is stored."""
    vendor = Jira("jira")
    body = body_of(vendor).replace(b'"timestamp": 1714558830000', b'"timestamp": 1e400')
    assert b"1e400" in body
    response = post(client, vendor, body)
    assert response.status_code == 400 and response.json() == {"error": "non-finite number"}
    assert inbox.events() == []


def test_a_bad_event_in_a_batch_keeps_its_valid_siblings(client: TestClient, inbox: Inbox):
    """In HubSpot's array of events, one holding `1e400` and one that is no object are
    dropped; the valid event beside them is stored."""
    vendor = HubSpot("hubspot", timestamped=True)
    [good] = vendor.payload(1, 0)
    [bad] = vendor.payload(2, 0)
    body = json.dumps([good, bad, "not an event"]).encode()
    body = body.replace(f'"objectId": {bad["objectId"]}'.encode(), b'"objectId": 1e400')
    assert b"1e400" in body
    response = post(client, vendor, body)
    assert response.status_code == 202 and response.json()["new"] == 1
    assert [e.payload["eventId"] for e in inbox.events()] == [good["eventId"]]
