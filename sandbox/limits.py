"""Each tool's documented rate limits as data, the windows that count requests against
them, the answers the vendors give when one is hit, and the log of every 429 sent.

Sources: ../shared/docs/api-notes.md and the vendors' rate-limit pages. Where a number or
a body is not documented, it is marked (unconfirmed) and chosen to be plausible.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

TOOLS = ("jira", "zendesk", "hubspot", "intercom", "freshdesk", "salesforce")
MODES = ("off", "real")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# (method, path inside the tool's mount) -> the bucket the request counts in, or None
# when the policy does not apply to it.
Scope = Callable[[str, str], str | None]
# {"jira": {"burst": 5, "per_issue_write": {"limit": 3, "window": 1.0}}}
LimitOverrides = Mapping[str, Mapping[str, int | Mapping[str, float]]]


def _everything(method: str, path: str) -> str:
    return ""


_JIRA_ISSUE = re.compile(r"^/rest/api/(?:2|3|latest)/issue/([^/]+)(?:/|$)")
_ISSUE_REF = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]*-\d+|\d+)$")
_JIRA_ID_AFTER = {"issue", "comment", "properties", "remotelink", "worklog", "attachment"}


def _jira_endpoint(method: str, path: str) -> str:
    """Jira's burst limit is per endpoint and HTTP method: ids and keys are one endpoint."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        before, part = parts[i - 1], parts[i]
        # Issue keys and ids, comment ids and property keys name one endpoint.
        if part and (_ISSUE_REF.match(part) or before == "properties"):
            parts[i] = "{}" if before in _JIRA_ID_AFTER else part
    return f"{method} {'/'.join(parts)}"


def _jira_issue_write(method: str, path: str) -> str | None:
    match = _JIRA_ISSUE.match(path)
    if method not in WRITES or not match or not _ISSUE_REF.match(match.group(1)):
        return None
    return match.group(1).upper()


def _zendesk_export(method: str, path: str) -> str | None:
    return "" if path.startswith("/api/v2/incremental/") else None


_HUBSPOT_SEARCH = re.compile(r"^/crm/v3/objects/[^/]+/search/?$")


def _hubspot_search(method: str, path: str) -> str | None:
    return "" if method == "POST" and _HUBSPOT_SEARCH.match(path) else None


@dataclass(frozen=True)
class Policy:
    """`limit` requests per `window` seconds in each bucket `scope` puts a request in.

    Fixed windows start at the first request after the previous window ended; rolling
    windows count the requests of the last `window` seconds."""

    name: str
    limit: int
    window: float
    scope: Scope = _everything
    rolling: bool = False


# The limits table. The first policy of each tool is the one its normal responses report.
LIMITS: dict[str, tuple[Policy, ...]] = {
    "jira": (
        # Burst limit per endpoint and method; Atlassian publishes no number (100 / 10 s
        # is the brief's example). Reason header `jira-burst-based`.
        Policy("burst", 100, 10.0, _jira_endpoint),
        # Per-issue write limits, March 2026 (unconfirmed numbers): 20 writes in 2 s and
        # 100 in 30 s to one issue. Reason header `jira-per-issue-on-write`.
        Policy("per_issue_write", 20, 2.0, _jira_issue_write),
        Policy("per_issue_write_30s", 100, 30.0, _jira_issue_write),
    ),
    "zendesk": (
        Policy("account", 700, 60.0),  # Enterprise plan: 700 requests a minute
        Policy("incremental_export", 10, 60.0, _zendesk_export),
    ),
    "hubspot": (
        Policy("ten_secondly_rolling", 100, 10.0, rolling=True),  # 100 to 190 by plan
        Policy("search", 5, 1.0, _hubspot_search, rolling=True),  # CRM search: 5 a second
    ),
    # 10,000 a minute per app, enforced in 10-second windows of 10,000 / 6.
    "intercom": (Policy("app", 1667, 10.0),),
    "freshdesk": (Policy("account", 400, 60.0),),  # Pro plan (legacy per-minute plans)
    # Salesforce has no 429 and no entry here: its daily request allowance (403
    # REQUEST_LIMIT_EXCEEDED, `Sforce-Limit-Info` on every answer) is the emulator's own
    # (sandbox/salesforce.py, setting `salesforce_daily_limit`), always on.
}


def build_table(
    scale: float = 1.0, overrides: LimitOverrides | None = None
) -> dict[str, tuple[Policy, ...]]:
    """LIMITS with `overrides` applied and every window multiplied by `scale`."""
    if not scale > 0:
        raise ValueError("limits_scale must be positive")
    table = {tool: list(policies) for tool, policies in LIMITS.items()}
    for tool, changes in (overrides or {}).items():
        if tool not in table:
            raise ValueError(f"unknown tool {tool!r} in limits; expected one of {list(table)}")
        names = [p.name for p in table[tool]]
        for name, change in changes.items():
            if name not in names:
                raise ValueError(f"unknown {tool} limit {name!r}; expected one of {names}")
            i = names.index(name)
            if isinstance(change, Mapping):
                unknown = set(change) - {"limit", "window"}
                if unknown:
                    raise ValueError(f"{tool}.{name}: only 'limit' and 'window' can be set")
                policy = table[tool][i]
                table[tool][i] = replace(
                    policy,
                    limit=int(change.get("limit", policy.limit)),
                    window=float(change.get("window", policy.window)),
                )
            else:
                table[tool][i] = replace(table[tool][i], limit=int(change))
            if table[tool][i].limit < 1 or not table[tool][i].window > 0:
                raise ValueError(f"{tool}.{name}: limit and window must be positive")
    return {
        tool: tuple(replace(p, window=p.window * scale) for p in policies)
        for tool, policies in table.items()
    }


class _Bucket:
    """Requests counted in one window of one policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.start = 0.0
        self.count = 0
        self.times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        window = self.policy.window
        if self.policy.rolling:
            while self.times and self.times[0] <= now - window:
                self.times.popleft()
        elif self.count and now >= self.start + window:
            self.count = 0

    def used(self, now: float) -> int:
        self._expire(now)
        return len(self.times) if self.policy.rolling else self.count

    def free_at(self, now: float) -> float:
        """When the next request would be admitted (now, if it would be already)."""
        if self.used(now) < self.policy.limit:
            return now
        if self.policy.rolling:
            return self.times[-self.policy.limit] + self.policy.window
        return self.start + self.policy.window

    def reset_at(self, now: float) -> float:
        """When the current window ends (for rolling windows: when the oldest leaves)."""
        self._expire(now)
        if self.policy.rolling:
            return (self.times[0] if self.times else now) + self.policy.window
        return (self.start if self.count else now) + self.policy.window

    def add(self, now: float) -> None:
        self._expire(now)
        if self.policy.rolling:
            self.times.append(now)
        else:
            if self.count == 0:
                self.start = now
            self.count += 1


@dataclass
class Verdict:
    """What the limiter decided for one request, and what to tell the client about it."""

    tool: str
    policy: Policy | None  # the policy reported in headers (the one hit when blocked)
    blocked: bool = False
    limit: int = 0
    remaining: int = 0
    reset_at: float = 0.0  # wall-clock time the reported window ends
    wait: float = 0.0  # seconds until a retry would be admitted (when blocked)
    forced: bool = False  # an injected 429, not a window that ran out
    # The tool's first applicable policy (Zendesk's account-wide headers report it even
    # when the export limit is the one hit).
    primary_limit: int = 0
    primary_remaining: int = 0
    applies: tuple[str, ...] = ()  # names of the policies the request counts against


def retry_after_seconds(wait: float) -> int:
    """Retry-After is whole seconds: round up so that honouring it is always enough."""
    return max(1, math.ceil(wait - 1e-9))


class Limiter:
    """Counts each tool's requests in its policies' windows; `mode` "off" counts nothing."""

    def __init__(
        self,
        mode: str = "off",
        scale: float = 1.0,
        overrides: LimitOverrides | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.configure(mode, scale, overrides)

    def configure(
        self, mode: str, scale: float = 1.0, overrides: LimitOverrides | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"rate_limits must be one of {MODES}, not {mode!r}")
        table = build_table(scale, overrides)
        with self._lock:
            self.mode = mode
            self.scale = scale
            self.overrides: dict[str, Any] = json.loads(json.dumps(overrides or {}))
            self.table = table
            self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    @property
    def enabled(self) -> bool:
        return self.mode == "real"

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        return {
            tool: [
                {"name": p.name, "limit": p.limit, "window": p.window, "rolling": p.rolling}
                for p in policies
            ]
            for tool, policies in self.table.items()
        }

    def _applicable(self, tool: str, method: str, path: str) -> list[tuple[Policy, _Bucket]]:
        found = []
        for policy in self.table.get(tool, ()):
            key = policy.scope(method, path)
            if key is None:
                continue
            bucket = self._buckets.get((tool, policy.name, key))
            if bucket is None:
                bucket = self._buckets[(tool, policy.name, key)] = _Bucket(policy)
            found.append((policy, bucket))
        return found

    def admit(self, tool: str, method: str, path: str, now: float) -> Verdict:
        """Count the request, or block it when one of its windows is spent (blocked
        requests are not counted)."""
        if not self.enabled:
            return Verdict(tool, None)
        with self._lock:
            applicable = self._applicable(tool, method, path)
            if not applicable:
                return Verdict(tool, None)
            spent = [(b.free_at(now), p, b) for p, b in applicable if b.used(now) >= p.limit]
            if not spent:
                for _, bucket in applicable:
                    bucket.add(now)
            first, first_bucket = applicable[0]
            primary = (first.limit, max(0, first.limit - first_bucket.used(now)))
            applies = tuple(p.name for p, _ in applicable)
            if spent:
                free_at, policy, bucket = max(spent, key=lambda x: x[0])
                return Verdict(
                    tool,
                    policy,
                    blocked=True,
                    limit=policy.limit,
                    remaining=0,
                    reset_at=max(free_at, bucket.reset_at(now)),
                    wait=free_at - now,
                    primary_limit=primary[0],
                    primary_remaining=primary[1],
                    applies=applies,
                )
            return Verdict(
                tool,
                first,
                limit=first.limit,
                remaining=primary[1],
                reset_at=first_bucket.reset_at(now),
                primary_limit=primary[0],
                primary_remaining=primary[1],
                applies=applies,
            )

    def forced(self, tool: str, method: str, path: str, now: float, wait: float) -> Verdict:
        """An injected 429 that tells the same story a spent window would."""
        policies = [p for p in self.table[tool] if p.scope(method, path) is not None]
        policy = policies[0] if policies else self.table[tool][0]
        return Verdict(
            tool,
            policy,
            blocked=True,
            limit=policy.limit,
            remaining=0,
            reset_at=now + wait,
            wait=wait,
            forced=True,
            primary_limit=policy.limit,
            applies=tuple(p.name for p in policies),
        )


# --- What each vendor answers ---------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_type: str = "application/json"
    retry_after: float | None = None  # the wait the client was told, for the 429 log


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _jira_reset(at: float) -> str:
    # Documented as ISO 8601 `yyyy-MM-ddTHH:mmZ`: rounded up to the minute so that it is
    # never earlier than the real reset.
    minute = math.ceil(at / 60) * 60
    return datetime.fromtimestamp(minute, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _window_name(seconds: float) -> str:
    return f"{int(seconds)}_seconds" if seconds == int(seconds) else f"{seconds:g}_seconds"


def info_headers(verdict: Verdict, now: float) -> list[tuple[str, str]]:
    """The rate-limit headers a vendor puts on a normal response."""
    policy = verdict.policy
    if policy is None:
        return []
    tool, limit, remaining = verdict.tool, verdict.limit, verdict.remaining
    if tool == "jira":
        headers = [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", str(remaining))]
        if remaining < 0.2 * limit:
            headers.append(("X-RateLimit-NearLimit", "true"))
        return headers
    if tool == "zendesk":
        return [("X-Rate-Limit", str(limit)), ("X-Rate-Limit-Remaining", str(remaining))]
    if tool == "hubspot":
        if "search" in verdict.applies:
            # Search responses do not carry the standard rate-limit headers (unconfirmed).
            return []
        return [
            ("X-HubSpot-RateLimit-Max", str(limit)),
            ("X-HubSpot-RateLimit-Remaining", str(remaining)),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(round(policy.window * 1000))),
        ]
    if tool == "intercom":
        return [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(math.ceil(verdict.reset_at))),
        ]
    if tool == "freshdesk":
        return [
            ("X-RateLimit-Total", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Used-CurrentRequest", "1"),
        ]
    return []


def throttled(verdict: Verdict, now: float) -> Answer:
    """The vendor's 429 for a request over its limit."""
    body: Any
    policy = verdict.policy
    assert policy is not None
    tool, limit = verdict.tool, verdict.limit
    seconds = retry_after_seconds(verdict.wait)
    retry = ("Retry-After", str(seconds))
    if tool == "jira":
        reason = "jira-per-issue-on-write" if policy.name.startswith("per_issue") else None
        headers = [
            retry,
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", _jira_reset(now + seconds)),
            ("X-RateLimit-NearLimit", "true"),
            ("RateLimit-Reason", reason or "jira-burst-based"),
        ]
        body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}  # (unconfirmed)
        return Answer(429, headers, _json(body), retry_after=seconds)
    if tool == "zendesk":
        # The account-wide headers, as on every response, even when the export limit is
        # the one hit.
        headers = [
            retry,
            ("X-Rate-Limit", str(verdict.primary_limit)),
            ("X-Rate-Limit-Remaining", str(verdict.primary_remaining)),
        ]
        text = b"Number of allowed API requests per minute exceeded"
        return Answer(429, headers, text, "text/plain; charset=utf-8", retry_after=seconds)
    if tool == "hubspot":
        if policy.name == "search":
            body = {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
                "requestId": str(uuid.uuid4()),
            }
            return Answer(429, [retry], _json(body), retry_after=seconds)
        headers = [
            retry,
            ("X-HubSpot-RateLimit-Max", str(limit)),
            ("X-HubSpot-RateLimit-Remaining", "0"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(round(policy.window * 1000))),
        ]
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "requestId": str(uuid.uuid4()),
            "groupName": "publicapi:private-app-api-calls-ten-secondly:sandbox",
        }
        return Answer(429, headers, _json(body), retry_after=seconds)
    if tool == "intercom":
        # No Retry-After: the client is told when the window resets, in unix seconds.
        reset = math.ceil(max(verdict.reset_at, now + verdict.wait))
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(reset)),
        ]
        body = {
            "type": "error.list",
            "request_id": uuid.uuid4().hex,
            "errors": [
                {
                    "code": "rate_limit_exceeded",
                    "message": f"Exceeded rate limit of {limit} in {_window_name(policy.window)}",
                }
            ],
        }
        return Answer(429, headers, _json(body), retry_after=reset - now)
    if tool == "freshdesk":
        headers = [
            retry,
            ("X-RateLimit-Total", str(limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Used-CurrentRequest", "1"),
        ]
        body = {"message": "You have exceeded the limit of requests per minute"}  # (unconfirmed)
        return Answer(429, headers, _json(body), retry_after=seconds)
    raise ValueError(f"{tool} has no rate limit of its own here")


# --- The 429 log ----------------------------------------------------------------------


@dataclass
class Throttle:
    tool: str
    route: str
    time: float
    retry_after: float
    reason: str
    next_request: float | None = None

    @property
    def waited(self) -> float | None:
        return None if self.next_request is None else self.next_request - self.time

    @property
    def violated(self) -> bool:
        waited = self.waited
        return waited is not None and waited < self.retry_after

    def as_dict(self) -> dict[str, Any]:
        waited = self.waited
        return {
            "tool": self.tool,
            "route": self.route,
            "time": self.time,
            "retry_after": self.retry_after,
            "reason": self.reason,
            "next_request": self.next_request,
            "waited": None if waited is None else round(waited, 4),
        }


class ThrottleLog:
    """Every 429 sent, and for each the arrival of the next request to the same tool: a
    violation is a request that came before the wait the client was told had passed."""

    KEEP = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._log: deque[Throttle] = deque(maxlen=self.KEEP)
            self._violations: deque[Throttle] = deque(maxlen=self.KEEP)
            self._pending: dict[str, list[Throttle]] = {}
            self._count = 0
            self._by_tool: dict[str, int] = {}

    def arrival(self, tool: str, now: float) -> None:
        with self._lock:
            for entry in self._pending.pop(tool, []):
                entry.next_request = now
                if entry.violated:
                    self._violations.append(entry)

    def record(self, tool: str, route: str, now: float, retry_after: float, reason: str) -> None:
        entry = Throttle(tool, route, now, retry_after, reason)
        with self._lock:
            self._log.append(entry)
            self._pending.setdefault(tool, []).append(entry)
            self._count += 1
            self._by_tool[tool] = self._by_tool.get(tool, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttled": self._count,
                "by_tool": dict(self._by_tool),
                "violations": [
                    {
                        "tool": v.tool,
                        "route": v.route,
                        "retry_after": v.retry_after,
                        "waited": round(v.waited or 0.0, 4),
                        "reason": v.reason,
                    }
                    for v in self._violations
                ],
                "pending": sum(len(p) for p in self._pending.values()),
                "log": [entry.as_dict() for entry in self._log],
            }
