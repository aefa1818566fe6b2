"""What each vendor answers about its rate limits: the headers on a normal response and
the 429 when a limit is hit (the limits themselves are in `sandbox.limits`)."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.limits import Verdict, retry_after_seconds


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


def _hubspot_body(policy: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"You have reached your {policy} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy.upper(),
        "requestId": str(uuid.uuid4()),
    }


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
            body = _hubspot_body("secondly")
            return Answer(429, [retry], _json(body), retry_after=seconds)
        headers = [
            retry,
            ("X-HubSpot-RateLimit-Max", str(limit)),
            ("X-HubSpot-RateLimit-Remaining", "0"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(round(policy.window * 1000))),
        ]
        body = _hubspot_body("ten_secondly_rolling")
        body["groupName"] = "publicapi:private-app-api-calls-ten-secondly:sandbox"
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
