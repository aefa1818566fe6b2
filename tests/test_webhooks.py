"""The webhook receiver, vendor by vendor: what is accepted, what is refused, what is kept.

Every vendor runs through the same matrix with a builder that signs the way that vendor
does (docs/api-notes.md): a valid delivery is stored once; a forged, tampered, missing or
stale signature is refused with 401 and leaves the inbox empty.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from webhook_senders import (
    BASE,
    MARKER,
    NOW,
    SECRET_FIELDS,
    SECRETS,
    TIMESTAMPED,
    VENDORS,
    HubSpot,
    Vendor,
    Zendesk,
    body_of,
    deliver,
    post,
    settings,
)

from store import Inbox, Store
from webhooks import create_app

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
