"""The webhook receiver: verify, dedupe, commit to the inbox, then answer 202.

Order of checks, so nothing unauthenticated is read further than its signature needs:
unknown tool (404), tool without a secret (401), declared size (413), streamed size (413),
signature and timestamp (401), JSON (400), inbox commit (202, or 503 when the store
fails so the vendor retries). Rejections are logged as

    webhook rejected: tool=<tool> status=<code> reason=<fixed phrase> client=<ip>

never with the body, a header value or a secret.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors import registry
from connectors.registry import Webhook
from connectors.settings import Settings
from connectors.webhook import Rejected, SignedRequest, Verifier
from store import Store
from store.inbox import Inbox

log = logging.getLogger("pmsync.webhooks")

MAX_BODY = 1024 * 1024  # 1 MB; vendors' events are a few KB


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    store: Store,
    *,
    public_url: str | None = None,
    clock: Callable[[], datetime] = _now,
    max_body: int = MAX_BODY,
) -> Starlette:
    """The receiver's ASGI app.

    `public_url`: the base URL the vendors call (e.g. `https://hooks.example.com`, under
    which `/webhooks/<tool>` is served), when a proxy in front changes the scheme, host or
    path prefix. Only some tools sign the URL; without it the URL is rebuilt from the request
    (uvicorn honours `X-Forwarded-Proto` from trusted proxies).
    """
    inbox = Inbox(store.engine, clock=clock)
    verifiers: dict[str, Verifier | None] = {
        v.name: v.webhook.verifier(settings) for v in registry.vendors() if v.webhook
    }
    base_url = public_url.rstrip("/") if public_url else None

    async def receive(request: Request) -> JSONResponse:
        name = request.path_params["tool"]
        vendor = registry.find(name)
        tool = vendor.webhook if vendor else None
        try:
            if tool is None:
                raise Rejected("unknown tool", status=404)
            verify = verifiers[name]
            if verify is None:
                raise Rejected("not configured")
            body = await _read_body(request, max_body)
            signed = SignedRequest(
                method=request.method,
                uri=_called_url(request, base_url),
                headers=request.headers,
                body=body,
                now=clock(),
            )
            verify(signed)
            deliveries = tool.deliveries(_parse_json(body), signed)
        except Rejected as rejection:
            log.warning(
                "webhook rejected: tool=%s status=%d reason=%s client=%s",
                name if tool else _printable(name),
                rejection.status,
                rejection.reason,
                request.client.host if request.client else "-",
            )
            return JSONResponse({"error": rejection.reason}, status_code=rejection.status)

        kept = _kept_headers(tool, request)
        deliveries = [replace(delivery, headers=kept) for delivery in deliveries]
        try:
            new = await run_in_threadpool(inbox.add, name, deliveries)
        except Exception as error:
            # The store's exception text carries the statement's parameters, i.e. the
            # payload: log its type only. 503 makes the vendor retry later.
            log.error("webhook not stored: tool=%s error=%s", name, type(error).__name__)
            return JSONResponse({"error": "not stored, retry later"}, status_code=503)
        log.info("webhook accepted: tool=%s events=%d new=%d", name, len(deliveries), new)
        return JSONResponse(
            {"accepted": len(deliveries), "new": new, "duplicates": len(deliveries) - new},
            status_code=202,
        )

    async def health(request: Request) -> JSONResponse:
        configured = sorted(name for name, verify in verifiers.items() if verify)
        try:
            backlog = await run_in_threadpool(inbox.backlog)
        except Exception as error:
            log.error("webhook health: store unreachable: %s", type(error).__name__)
            return JSONResponse(
                {"status": "store unreachable", "configured": configured}, status_code=503
            )
        return JSONResponse({"status": "ok", "configured": configured, "backlog": backlog})

    return Starlette(
        routes=[
            Route("/webhooks/health", health, methods=["GET"]),
            Route("/webhooks/{tool}", receive, methods=["POST"]),
        ]
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused past `limit` whether or not Content-Length says so: a
    chunked body has none, and a declared length may lie."""
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            raise Rejected("bad content-length", status=400)
        if int(declared) > limit:
            raise Rejected("body too large", status=413)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Rejected("body too large", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise Rejected("client disconnected", status=400) from None
    return b"".join(chunks)


def _called_url(request: Request, base_url: str | None) -> str:
    if base_url is None:
        return str(request.url)
    query = request.url.query
    return base_url + request.url.path + (f"?{query}" if query else "")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _NonFinite:
    """A number that overflows a float (`1e400`): marked, so that the event holding it is
    refused before storage and its siblings in a batch are not."""


NON_FINITE = _NonFinite()


def _finite(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NON_FINITE


def _holds_non_finite(value: Any) -> bool:
    if value is NON_FINITE:
        return True
    if isinstance(value, dict):
        return any(_holds_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_non_finite(v) for v in value)
    return False


def _parse_json(body: bytes) -> Any:
    """Strict JSON: NaN, Infinity and numbers too large for a float are refused with 400
    before anything is stored (PostgreSQL's JSON would refuse them later, after the 202
    question was already decided, and fail the valid events stored with them). In a batch
    (an array of events) only the events holding one are dropped; the rest are kept."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise Rejected("malformed JSON", status=400) from None
    if isinstance(payload, list) and payload:
        kept = [event for event in payload if not _holds_non_finite(event)]
        if len(kept) < len(payload):
            log.warning(
                "webhook events dropped: %d with a non-finite number", len(payload) - len(kept)
            )
        if not kept:
            raise Rejected("non-finite number", status=400)
        return kept
    if _holds_non_finite(payload):
        raise Rejected("non-finite number", status=400)
    return payload


def _kept_headers(tool: Webhook, request: Request) -> dict[str, str]:
    names = ("content-type", "user-agent", *tool.headers)
    return {name: request.headers[name] for name in names if name in request.headers}


def _printable(name: str) -> str:
    """An unknown tool name is whatever the caller put in the path: keep logs one line."""
    return re.sub(r"[^a-z0-9_.-]", "?", name.lower()[:40])
