"""The middleware in front of every tool: rate limits (sandbox.limits), fault injection
(sandbox.faults), and their /_sandbox endpoints (config, ratelimits, faults/injected).

It wraps the whole Starlette stack (outside its error middleware), so that it sees the
server's own `send` and can drop a connection the way a network does. /_sandbox/* and any
path that is not a tool's pass straight through: never limited, never faulted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import Fault, FaultInjector, FaultKinds, error_200, server_error
from sandbox.limit_answers import Answer, info_headers, throttled
from sandbox.limits import TOOLS, Limiter, LimitOverrides, Verdict
from sandbox.throttle_log import ThrottleLog
from sandbox.web import json_response, read_json


class DroppedConnection(Exception):
    """Raised to break a response off where the server's transport cannot be reached."""


class TrafficOptions(TypedDict, total=False):
    """The middleware's settings: keywords of create_app (their defaults are Traffic's),
    and what POST /_sandbox/config changes at runtime."""

    rate_limits: str
    limits_scale: float
    limits: LimitOverrides | None
    faults: float
    fault_seed: int
    fault_kinds: FaultKinds | None
    fault_max_delay: float
    fault_retry_after: int


CONFIG_KEYS = tuple(TrafficOptions.__annotations__)


class Traffic:
    """The rate limiter, the 429 log and the fault injector of one sandbox app."""

    def __init__(
        self,
        *,
        rate_limits: str = "off",
        limits_scale: float = 1.0,
        limits: LimitOverrides | None = None,
        faults: float = 0.0,
        fault_seed: int = 0,
        fault_kinds: FaultKinds | None = None,
        fault_max_delay: float = 1.5,
        fault_retry_after: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = Limiter()
        self.limiter.configure(rate_limits, limits_scale, limits)
        self.throttles = ThrottleLog()
        self.faults = FaultInjector()
        self.faults.configure(faults, fault_seed, fault_kinds, fault_max_delay, fault_retry_after)
        self.clock = clock

    def config(self) -> dict[str, Any]:
        return {
            "rate_limits": self.limiter.mode,
            "limits_scale": self.limiter.scale,
            "limits": self.limiter.overrides,
            "limits_table": self.limiter.describe(),
            **self.faults.describe(),
        }


def install(app: Starlette, **options: Unpack[TrafficOptions]) -> Traffic:
    """Put the traffic middleware in front of `app`'s whole middleware stack."""
    traffic = Traffic(**options)
    app.state.traffic = traffic
    build = app.build_middleware_stack

    def build_with_traffic() -> ASGIApp:
        return TrafficMiddleware(build(), traffic)

    # Starlette builds its stack lazily on the first request; wrapping the builder keeps
    # `add_middleware` working and puts this outside ServerErrorMiddleware.
    setattr(app, "build_middleware_stack", build_with_traffic)  # noqa: B010
    return traffic


def _tool_of(path: str) -> tuple[str | None, str]:
    _, _, rest = path.partition("/")
    tool, slash, inner = rest.partition("/")
    return (tool, slash + inner) if tool in TOOLS else (None, path)


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def _answer(send: Send, status: int, body: bytes, content_type: str, headers: Any) -> None:
    raw = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        *_raw(headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _close_connection(send: Send) -> bool:
    """Close the client's TCP connection under uvicorn, whatever was or was not sent.

    uvicorn's `send` is a bound method of its request cycle, which holds the transport.
    Closing it and letting the event loop deliver `connection_lost` marks the cycle
    disconnected, so uvicorn neither answers 500 nor logs an error for it."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not callable(getattr(transport, "close", None)):
        return False
    transport.close()
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
    return True


class TrafficMiddleware:
    def __init__(self, app: ASGIApp, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tool, path = _tool_of(scope["path"])
        if tool is None:
            await self.app(scope, receive, send)
            return
        traffic = self.traffic
        method = scope["method"]
        route = f"{method} {path}"
        now = traffic.clock()
        traffic.throttles.arrival(tool, now)
        verdict = traffic.limiter.admit(tool, method, path, now)
        if verdict.blocked:
            await self._throttle(send, verdict, route, now, "limit")
            return
        fault = traffic.faults.decide(tool, method)
        extra = info_headers(verdict, now)
        if fault is None:
            await self.app(scope, receive, self._with_headers(send, tool, extra))
            return
        traffic.faults.record(tool, route, fault)
        await self._inject(fault, scope, receive, send, tool, method, path, route, extra, now)

    async def _throttle(
        self, send: Send, verdict: Verdict, route: str, now: float, reason: str
    ) -> None:
        answer: Answer = throttled(verdict, now)
        if answer.retry_after is not None:
            why = reason if reason == "fault" else (verdict.policy.name if verdict.policy else "")
            self.traffic.throttles.record(verdict.tool, route, now, answer.retry_after, why)
        await _answer(send, answer.status, answer.body, answer.content_type, answer.headers)

    def _with_headers(self, send: Send, tool: str, extra: list[tuple[str, str]]) -> Send:
        if not extra:
            return send

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                # Intercom sends its rate-limit headers only to authenticated requests.
                if not (tool == "intercom" and status == 401):
                    headers += [h for h in _raw(extra) if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        return sending

    async def _inject(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        send: Send,
        tool: str,
        method: str,
        path: str,
        route: str,
        extra: list[tuple[str, str]],
        now: float,
    ) -> None:
        traffic = self.traffic
        if fault.kind == "rate_limit":
            wait = float(traffic.faults.retry_after)
            verdict = traffic.limiter.forced(tool, method, path, now, wait)
            await self._throttle(send, verdict, route, now, "fault")
        elif fault.kind == "server_error":
            assert fault.status is not None
            body, content_type, headers = server_error(
                tool, fault.status, traffic.faults.retry_after
            )
            await _answer(send, fault.status, body, content_type, headers)
        elif fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, self._with_headers(send, tool, extra))
        elif fault.kind == "drop":
            await self._drop(send)
        elif fault.kind == "drop_after_write":

            async def swallow(message: Message) -> None:
                pass

            await self.app(scope, receive, swallow)  # the write is applied
            await self._drop(send)
        elif fault.kind == "truncate":
            await self._truncate(scope, receive, send, tool, extra)
        elif fault.kind == "error_200":
            body, content_type = error_200(tool, fault.body)
            await _answer(send, 200, body, content_type, [])
        else:  # pragma: no cover - KINDS and this dispatch go together
            raise ValueError(fault.kind)

    async def _drop(self, send: Send) -> None:
        if await _close_connection(send):
            return
        # Not under uvicorn: start a response that promises a body, then break off.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        raise DroppedConnection("sandbox fault: connection dropped")

    async def _truncate(
        self, scope: Scope, receive: Receive, send: Send, tool: str, extra: list[tuple[str, str]]
    ) -> None:
        """Run the (read) handler, send its headers and half its body, then close."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, self._with_headers(capture, tool, extra))
        body = b"".join(chunks)
        if start is None or len(body) < 2:
            await self._drop(send)
            return
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        if not await _close_connection(send):
            raise DroppedConnection("sandbox fault: response truncated")


# --- /_sandbox endpoints ----------------------------------------------------------------


def _traffic(request: Request) -> Traffic:
    traffic: Traffic = request.app.state.traffic
    return traffic


async def config(request: Request) -> Response:
    """GET the rate-limit and fault settings; POST some of them to change them at runtime.
    Changing a limit setting starts every window afresh; setting `fault_seed` restarts the
    fault sequence."""
    traffic = _traffic(request)
    if request.method == "GET":
        return json_response(traffic.config())
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict):
        return json_response({"error": "expected a JSON object"}, 400)
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        return json_response(
            {"error": f"unknown settings {unknown}; expected some of {list(CONFIG_KEYS)}"}, 400
        )
    limiter, faults = traffic.limiter, traffic.faults
    try:
        limit_args = (
            body.get("rate_limits", limiter.mode),
            float(body.get("limits_scale", limiter.scale)),
            body.get("limits", limiter.overrides),
        )
        fault_args = (
            float(body.get("faults", faults.rate)),
            int(body.get("fault_seed", faults.seed)),
            body.get("fault_kinds", faults.weights),
            float(body.get("fault_max_delay", faults.max_delay)),
            int(body.get("fault_retry_after", faults.retry_after)),
        )
        # Validate everything before applying anything.
        Limiter().configure(*limit_args)
        FaultInjector().configure(*fault_args)
    except (TypeError, ValueError, AttributeError) as exc:
        return json_response({"error": str(exc)}, 400)
    if {"rate_limits", "limits_scale", "limits"} & set(body):
        limiter.configure(*limit_args)
    if set(CONFIG_KEYS[3:]) & set(body):
        faults.configure(*fault_args)
    return json_response(traffic.config())


async def ratelimits(request: Request) -> Response:
    """The 429 log: GET it; DELETE clears it and starts every window afresh."""
    traffic = _traffic(request)
    if request.method == "DELETE":
        traffic.throttles.clear()
        traffic.limiter.clear()
    return json_response({"rate_limits": traffic.limiter.mode, **traffic.throttles.snapshot()})


def injected(request: Request) -> dict[str, Any]:
    """Faults injected so far: total, by_kind, by_status, by_tool and the events."""
    return _traffic(request).faults.snapshot()


async def faults_injected(request: Request) -> Response:
    """Faults injected so far, per kind; DELETE clears the counts (not the sequence)."""
    if request.method == "DELETE":
        _traffic(request).faults.clear()
    return json_response(injected(request))


def routes() -> list[BaseRoute]:
    """Mounted under /_sandbox by sandbox.admin."""
    return [
        Route("/config", config, methods=["GET", "POST"]),
        Route("/ratelimits", ratelimits, methods=["GET", "DELETE"]),
        Route("/faults/injected", faults_injected, methods=["GET", "DELETE"]),
    ]
