"""Each tool's documented rate limits as data, the windows that count requests against
them; `limit_answers` says what the vendors answer and `throttle_log` logs each 429.

Sources: ../shared/docs/api-notes.md and the vendors' rate-limit pages. Where a number or
a body is not documented, it is marked (unconfirmed) and chosen to be plausible.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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


def _blocked(
    tool: str,
    policy: Policy,
    reset_at: float,
    wait: float,
    primary: tuple[int, int],
    applies: tuple[str, ...],
    forced: bool = False,
) -> Verdict:
    """A refusal: the policy hit, none of it remaining, and when a retry would pass."""
    return Verdict(
        tool,
        policy,
        blocked=True,
        limit=policy.limit,
        remaining=0,
        reset_at=reset_at,
        wait=wait,
        forced=forced,
        primary_limit=primary[0],
        primary_remaining=primary[1],
        applies=applies,
    )


def retry_after_seconds(wait: float) -> int:
    """Retry-After is whole seconds: round up so that honouring it is always enough."""
    return max(1, math.ceil(wait - 1e-9))


class Limiter:
    """Counts each tool's requests in its policies' windows; `mode` "off" counts nothing."""

    def __init__(self) -> None:
        """Off until `configure` says otherwise."""
        self._lock = threading.Lock()
        self.configure()

    def configure(
        self, mode: str = "off", scale: float = 1.0, overrides: LimitOverrides | None = None
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
                reset_at = max(free_at, bucket.reset_at(now))
                return _blocked(tool, policy, reset_at, free_at - now, primary, applies)
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
        applies = tuple(p.name for p in policies)
        return _blocked(tool, policy, now + wait, wait, (policy.limit, 0), applies, forced=True)
