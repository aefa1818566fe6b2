"""The sandbox as a webhook sender: each tool's deliveries, signed the way that vendor signs
them, POSTed to `{webhook_url}/webhooks/<tool>` from one background thread, so an API
request never waits for a delivery.

Deliveries can be dropped, duplicated (the vendor's retry: same delivery id) and reordered
on request, from a seeded random stream, and every outcome is kept in a log
(`GET /_sandbox/webhooks`) with the wall-clock time it was sent: latency measurements
start there.

Signatures, as the vendors document them:
- Jira: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`;
- Zendesk: `x-zendesk-webhook-signature: base64(HMAC-SHA256(secret, timestamp + body))`;
- HubSpot v3: `X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, method + uri + body +
  timestamp))`, the timestamp in epoch ms;
- Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, body)>`;
- Freshdesk and Salesforce sign nothing: the shared secret travels in a header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger("sandbox.webhooks")

TOOLS = ("jira", "zendesk", "hubspot", "intercom", "freshdesk", "salesforce")
DEMO_SECRET = "sandbox"
SHARED_SECRET_HEADER = "X-Pmsync-Secret"
RATES = ("webhook_drop", "webhook_duplicate", "webhook_reorder")
SETTINGS = (
    "webhook_url",
    "webhook_secrets",
    "webhook_salesforce_header",
    "webhook_seed",
    *RATES,
)
# A delivery held back to be reordered waits at most this long for one to overtake it.
REORDER_HOLD_S = 0.3
# Vendors retry 5xx, 429 and time-outs; the sandbox retries a little, quickly.
RETRY_WAITS_S = (0.1, 0.5, 1.0)
LOG_LIMIT = 20_000


@dataclass
class Delivery:
    """One webhook as its vendor would send it, before signing."""

    tool: str
    event: str
    delivery_id: str
    payload: Any
    records: list[str]
    actor: str  # "api" for writes through the tools' APIs, else "person"
    seq: int = 0
    queued_at: float = 0.0
    reordered: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)


def _hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()


def _hmac_base64(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_headers(
    delivery: Delivery, body: bytes, url: str, secret: str, salesforce_header: str, retry: int
) -> dict[str, str]:
    """The headers that carry the delivery id, the timestamp and the signature."""
    headers = {"Content-Type": "application/json", "User-Agent": f"{delivery.tool}-sandbox/1"}
    tool = delivery.tool
    if tool == "jira":
        headers["X-Atlassian-Webhook-Identifier"] = delivery.delivery_id
        headers["X-Hub-Signature"] = "sha256=" + _hmac_hex(secret, body)
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
    elif tool == "zendesk":
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers["x-zendesk-webhook-id"] = "01GSANDBOXWEBHOOK0000000000"
        headers["x-zendesk-webhook-invocation-id"] = delivery.delivery_id
        headers["x-zendesk-webhook-signature-timestamp"] = stamp
        headers["x-zendesk-webhook-signature"] = _hmac_base64(secret, stamp.encode() + body)
    elif tool == "hubspot":
        stamp = str(int(time.time() * 1000))
        signed = b"POST" + url.encode() + body + stamp.encode()
        headers["X-HubSpot-Request-Timestamp"] = stamp
        headers["X-HubSpot-Signature-v3"] = _hmac_base64(secret, signed)
    elif tool == "intercom":
        headers["X-Hub-Signature"] = "sha1=" + _hmac_hex(secret, body, "sha1")
    elif tool == "freshdesk":
        headers[SHARED_SECRET_HEADER] = secret
    elif tool == "salesforce":
        headers[salesforce_header] = secret
    headers.update(delivery.extra_headers)
    return headers


class Webhooks:
    """The sender of one sandbox app: settings, a queue, its thread and the log."""

    def __init__(
        self,
        url: str | None = None,
        secrets: dict[str, str] | None = None,
        *,
        salesforce_header: str = SHARED_SECRET_HEADER,
        drop: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.lock = threading.Lock()
        self.url = url.rstrip("/") if url else None
        self.secrets = {tool: DEMO_SECRET for tool in TOOLS} | dict(secrets or {})
        self.salesforce_header = salesforce_header
        self.rates = {"webhook_drop": drop, "webhook_duplicate": duplicate}
        self.rates["webhook_reorder"] = reorder
        self.seed = seed
        self.rng = random.Random(seed)
        self.log: list[dict[str, Any]] = []
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._seq = 0
        self._busy = 0  # deliveries taken off the queue and not yet logged
        self._idle = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    # -- settings ----------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def settings(self) -> dict[str, Any]:
        return {
            "webhook_url": self.url,
            # Which tools have a secret, never the secrets themselves.
            "webhook_secrets": sorted(tool for tool, s in self.secrets.items() if s),
            "webhook_salesforce_header": self.salesforce_header,
            "webhook_seed": self.seed,
            **self.rates,
        }

    @staticmethod
    def check(changes: dict[str, Any]) -> str | None:
        """Why these settings cannot be applied, or None."""
        for name, value in changes.items():
            if name in RATES:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return f"{name} must be a number"
                if not 0.0 <= value <= 1.0:
                    return f"{name} must be between 0 and 1"
            elif name == "webhook_url":
                if value is not None and (
                    not isinstance(value, str) or not value.startswith(("http://", "https://"))
                ):
                    return "webhook_url must be an http(s) URL or null"
            elif name == "webhook_secrets":
                if not isinstance(value, dict) or not all(
                    tool in TOOLS and isinstance(s, str) for tool, s in value.items()
                ):
                    return f"webhook_secrets must map some of {list(TOOLS)} to strings"
            elif name == "webhook_salesforce_header":
                if not isinstance(value, str) or not value.strip():
                    return "webhook_salesforce_header must be a header name"
            elif name == "webhook_seed" and (isinstance(value, bool) or not isinstance(value, int)):
                return "webhook_seed must be an integer"
        return None

    def configure(self, changes: dict[str, Any]) -> None:
        with self.lock:
            for name, value in changes.items():
                if name in RATES:
                    self.rates[name] = float(value)
                elif name == "webhook_url":
                    self.url = value.rstrip("/") if value else None
                elif name == "webhook_secrets":
                    self.secrets.update(value)
                elif name == "webhook_salesforce_header":
                    self.salesforce_header = value.strip()
                elif name == "webhook_seed":
                    self.seed = value
                    self.rng = random.Random(value)

    # -- sending -----------------------------------------------------------------------------

    def emit(self, deliveries: list[Delivery]) -> None:
        """Queue deliveries for the sender thread; nothing happens without a webhook_url."""
        if not self.enabled or not deliveries:
            return
        with self.lock:
            for delivery in deliveries:
                self._seq += 1
                delivery.seq = self._seq
                delivery.queued_at = time.time()
                self._queue.put(delivery)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-webhooks", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery is sent, dropped or failed (for tests)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queue.unfinished_tasks or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def _draw(self, rate: str) -> bool:
        with self.lock:
            return self.rates[rate] > 0 and self.rng.random() < self.rates[rate]

    def _run(self) -> None:
        held: Delivery | None = None
        while True:
            try:
                delivery = self._queue.get(timeout=REORDER_HOLD_S if held else None)
            except queue.Empty:
                assert held is not None
                self._deliver(held)  # nothing came to overtake it
                held = None
                continue
            with self.lock:
                self._busy += 1
            self._queue.task_done()
            if held is None and self._draw("webhook_reorder"):
                delivery.reordered = True
                held = delivery  # the next delivery goes first
                continue
            self._deliver(delivery)
            if held is not None:
                self._deliver(held)
                held = None

    def _deliver(self, delivery: Delivery) -> None:
        try:
            if self._draw("webhook_drop"):
                self._record(delivery, "dropped", None, None)
                return
            self._post(delivery, retry=0)
            if self._draw("webhook_duplicate"):
                self._post(delivery, retry=1)
        except Exception as error:  # the sender thread must outlive any one delivery
            log.exception("webhook %s failed: %s", delivery.delivery_id, error)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _post(self, delivery: Delivery, retry: int) -> None:
        with self.lock:
            url, secret = self.url, self.secrets.get(delivery.tool, "")
            header = self.salesforce_header
        if url is None:
            self._record(delivery, "dropped", None, "no webhook_url")
            return
        target = f"{url}/webhooks/{delivery.tool}"
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        outcome = "duplicated" if retry else "sent"
        status: int | None = None
        error: str | None = None
        for wait in (*RETRY_WAITS_S, None):
            headers = signed_headers(delivery, body, target, secret, header, retry)
            sent_at = time.time()
            try:
                status = self._session.post(
                    target, data=body, headers=headers, timeout=10
                ).status_code
                error = None
            except requests.RequestException as exc:
                status, error = None, type(exc).__name__
            if status is not None and status < 500 and status != 429:
                break
            if wait is None:
                break
            time.sleep(wait)
        if status is None or status >= 400:
            outcome = "failed" if not retry else outcome
        self._record(delivery, outcome, status, error, sent_at)

    def _record(
        self,
        delivery: Delivery,
        outcome: str,
        status: int | None,
        error: str | None,
        sent_at: float | None = None,
    ) -> None:
        entry = {
            "seq": delivery.seq,
            "tool": delivery.tool,
            "event": delivery.event,
            "delivery_id": delivery.delivery_id,
            "records": delivery.records,
            "actor": delivery.actor,
            "outcome": outcome,
            "reordered": delivery.reordered,
            "queued_at": delivery.queued_at,
            "sent_at": sent_at,
            "status": status,
            "error": error,
        }
        with self.lock:
            self.log.append(entry)
            del self.log[:-LOG_LIMIT]

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.log if e["seq"] > since]

    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self.lock:
            return self._queue.unfinished_tasks + self._busy

    def clear(self) -> None:
        with self.lock:
            self.log.clear()


def new_delivery_id(tool: str) -> str:
    """An id shaped like the vendor's: Jira and Zendesk send UUIDs, Intercom `notif_...`."""
    value = str(uuid.uuid4())
    return f"notif_{value}" if tool == "intercom" else value


async def webhook_log(request: Request) -> Response:
    """`GET /_sandbox/webhooks[?since=SEQ]`: every delivery's outcome (sent, duplicated,
    dropped, failed) with its delivery id and the time it was sent; DELETE clears it."""
    hooks: Webhooks = request.app.state.webhooks
    if request.method == "DELETE":
        hooks.clear()
        return JSONResponse({"status": "ok"})
    if request.query_params.get("wait") is not None:
        await run_in_threadpool(hooks.wait_idle, 10.0)
    try:
        since = int(request.query_params.get("since", 0))
    except ValueError:
        return JSONResponse({"error": "since must be an integer"}, status_code=400)
    entries = hooks.entries(since)
    return JSONResponse({**hooks.settings(), "pending": hooks.pending(), "deliveries": entries})


def routes() -> list[BaseRoute]:
    return [Route("/webhooks", webhook_log, methods=["GET", "DELETE"])]
