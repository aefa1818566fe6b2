"""Fault injection: on a share of API requests, a 429, a 5xx with the vendor's error body,
a slow answer, or a dropped connection.

A fault is decided before the request reaches its handler, so a failed request changed
nothing; the one exception is `drop_after_write`, where the handler ran (the write was
applied) and the connection is then dropped, so the client cannot know whether it worked.
Decisions come from one random generator seeded with `fault_seed`: the same sequence of
requests meets the same faults.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = (
    "rate_limit",
    "server_error",
    "slow",
    "drop",
    "truncate",
    "drop_after_write",
    "error_200",
)
DEFAULT_WEIGHTS: dict[str, float] = {
    "rate_limit": 0.2,  # 429 with Retry-After and the tool's rate-limit headers
    "server_error": 0.25,  # 500/502/503/504
    "slow": 0.2,  # a delay, then the normal answer
    "drop": 0.1,  # connection closed before any response byte
    "truncate": 0.1,  # headers and part of the body, then closed (reads only)
    "drop_after_write": 0.15,  # the handler ran, then closed with no response (writes)
    # Not drawn unless asked for: 200 with the vendor's error body, a proxy's HTML page or
    # nothing at all, as real services and the proxies before them sometimes answer.
    "error_200": 0.0,
}
ERROR_200_BODIES = ("vendor_error", "html", "empty")
SERVER_ERRORS = (500, 502, 503, 504)
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# A weight per kind, or a list of kinds (equal weights).
FaultKinds = Mapping[str, float] | Sequence[str]


def parse_kinds(kinds: FaultKinds | None) -> dict[str, float]:
    if kinds is None:
        return dict(DEFAULT_WEIGHTS)
    weights = (
        {str(k): float(v) for k, v in kinds.items()}
        if isinstance(kinds, Mapping)
        else {str(k): 1.0 for k in kinds}
    )
    unknown = sorted(set(weights) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; expected some of {list(KINDS)}")
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ValueError("fault kind weights must be non-negative, and one positive")
    return {k: w for k, w in weights.items() if w > 0}


def eligible(kind: str, tool: str, method: str) -> bool:
    if kind == "drop_after_write":
        return method not in READS
    if kind == "truncate":
        return method in READS
    if kind == "rate_limit":
        return tool != "salesforce"  # Salesforce never answers 429
    return True


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int | None = None  # server_error
    delay: float = 0.0  # slow
    body: str = ""  # error_200: one of ERROR_200_BODIES


class FaultInjector:
    def __init__(self) -> None:
        """No faults until `configure` sets a rate."""
        self._lock = threading.Lock()
        self.configure()
        self.clear()

    def configure(
        self,
        rate: float = 0.0,
        seed: int = 0,
        kinds: FaultKinds | None = None,
        max_delay: float = 1.5,
        retry_after: int = 1,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("faults must be a rate between 0 and 1")
        if max_delay < 0 or retry_after < 1:
            raise ValueError("fault_max_delay must be >= 0 and fault_retry_after >= 1")
        weights = parse_kinds(kinds)
        with self._lock:
            self.rate = float(rate)
            self.seed = int(seed)
            self.weights = weights
            self.max_delay = float(max_delay)
            self.retry_after = int(retry_after)
            self._rng = random.Random(self.seed)

    def clear(self) -> None:
        with self._lock:
            self._counts: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._by_tool: Counter[str] = Counter()
            self._events: deque[dict[str, Any]] = deque(maxlen=10_000)
            self._total = 0

    def describe(self) -> dict[str, Any]:
        return {
            "faults": self.rate,
            "fault_seed": self.seed,
            "fault_kinds": dict(self.weights),
            "fault_max_delay": self.max_delay,
            "fault_retry_after": self.retry_after,
        }

    def decide(self, tool: str, method: str) -> Fault | None:
        """Draw this request's fault, if any. One draw per API request, in arrival order."""
        with self._lock:
            if self.rate <= 0.0:
                return None
            rng = self._rng
            if rng.random() >= self.rate:
                return None
            kinds = [k for k in self.weights if eligible(k, tool, method)]
            if not kinds:
                return None
            kind = rng.choices(kinds, [self.weights[k] for k in kinds])[0]
            if kind == "server_error":
                return Fault(kind, status=rng.choice(SERVER_ERRORS))
            if kind == "slow":
                return Fault(kind, delay=round(rng.uniform(0.1, 1.0) * self.max_delay, 3))
            if kind == "error_200":
                return Fault(kind, body=rng.choice(ERROR_200_BODIES))
            return Fault(kind)

    def record(self, tool: str, route: str, fault: Fault) -> None:
        with self._lock:
            self._total += 1
            self._counts[fault.kind] += 1
            self._by_tool[tool] += 1
            if fault.status is not None:
                self._by_status[str(fault.status)] += 1
            event: dict[str, Any] = {"tool": tool, "route": route, "kind": fault.kind}
            if fault.status is not None:
                event["status"] = fault.status
            if fault.kind == "slow":
                event["delay"] = fault.delay
            if fault.body:
                event["body"] = fault.body
            self._events.append(event)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_kind": {k: self._counts.get(k, 0) for k in KINDS},
                "by_status": dict(self._by_status),
                "by_tool": dict(self._by_tool),
                "events": list(self._events),
            }


# --- The vendors' 5xx answers ---------------------------------------------------------

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _gateway_page(status: int) -> bytes:
    # 502 and 504 come from the vendor's edge proxy, as HTML, not from the API itself.
    reason = _REASONS[status]
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _vendor_error(tool: str, status: int) -> Any:
    unavailable = status == 503
    if tool == "jira":
        message = (
            "Service Unavailable" if unavailable else "Internal server error. Please try again."
        )
        return {"errorMessages": [message], "errors": {}}
    if tool == "zendesk":
        if unavailable:
            return {"error": "ServiceUnavailable", "description": "Service temporarily down"}
        return {"error": "InternalError", "description": "Something went wrong"}
    if tool == "hubspot":
        return {
            "status": "error",
            "message": "Service unavailable" if unavailable else "internal error",
            "correlationId": str(uuid.uuid4()),
            "category": "SERVICE_UNAVAILABLE" if unavailable else "INTERNAL_ERROR",
        }
    if tool == "intercom":
        code = "service_unavailable" if unavailable else "server_error"
        message = "Service Unavailable" if unavailable else "Server Error"
        return {
            "type": "error.list",
            "request_id": uuid.uuid4().hex,
            "errors": [{"code": code, "message": message}],
        }
    if tool == "freshdesk":
        return {
            "code": "service_unavailable" if unavailable else "internal_error",
            "message": "We're sorry, but something went wrong.",
        }
    if tool == "salesforce":
        if unavailable:
            return [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        return [
            {
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                f"contact support: {random.randint(10**8, 10**9)}-{random.randint(1, 99999)}",
                "errorCode": "UNKNOWN_EXCEPTION",
            }
        ]
    return {"error": _REASONS[status]}


def error_200(tool: str, body: str) -> tuple[bytes, str]:
    """(body, content type) of a 200 that is no answer: the vendor's error body (as its
    503 would carry), an HTML page from a proxy or a login wall, or an empty body."""
    if body == "html":
        page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
        return page.encode(), "text/html; charset=utf-8"
    if body == "empty":
        return b"", "application/json"
    return json.dumps(_vendor_error(tool, 503), separators=(",", ":")).encode(), "application/json"


def server_error(
    tool: str, status: int, retry_after: int
) -> tuple[bytes, str, list[tuple[str, str]]]:
    """(body, content type, extra headers) of a vendor's 5xx."""
    if status in (502, 504):
        return _gateway_page(status), "text/html", []
    body = json.dumps(_vendor_error(tool, status), separators=(",", ":")).encode()
    headers = [("Retry-After", str(retry_after))] if status == 503 else []
    return body, "application/json", headers
