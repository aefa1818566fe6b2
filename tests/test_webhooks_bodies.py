"""The webhook receiver's other refusals and duties: shared secrets, body size and JSON,
routes and health, logs without bodies or secrets, the command, replays and numbers no
store takes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner
from webhook_senders import (
    MARKER,
    NOW,
    SALESFORCE_HEADER,
    SECRETS,
    TIMESTAMPED,
    VENDORS,
    Freshdesk,
    HubSpot,
    Intercom,
    Jira,
    Salesforce,
    Vendor,
    Zendesk,
    body_of,
    deliver,
    post,
)

from connectors import registry
from store import Inbox, Store
from webhooks.app import MAX_BODY

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
    for vendor in registry.vendors():
        if vendor.webhook:
            assert vendor.webhook.secret_env in result.output
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
