"""The one place pmsync talks HTTP: time-outs, retries that honour Retry-After, redaction.

No connector retries on its own; every call, including those the `jira` package makes,
goes through `ApiClient.call`.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

if TYPE_CHECKING:
    from models.settings import CoreSettings

log = logging.getLogger("pmsync.http")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# Failures of the connection itself, all worth another attempt: refused or reset, timed
# out, or closed part-way through the body (requests raises ChunkedEncodingError for a
# body shorter than its Content-Length, which is no ConnectionError).
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
T = TypeVar("T")


@dataclass(frozen=True)
class Calls:
    """How a tool's calls go: each one's time-out, the attempts it gets (on 429, 5xx and
    broken connections), and what waits between them (a test passes one that records)."""

    timeout: float = 30.0
    max_attempts: int = 6
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def per(cls, settings: CoreSettings, sleep: Callable[[float], None] = time.sleep) -> Calls:
        """As the settings say (PMSYNC_HTTP_TIMEOUT_S, PMSYNC_HTTP_MAX_ATTEMPTS)."""
        return cls(settings.http_timeout_s, settings.http_max_attempts, sleep)


class ApiError(Exception):
    """A call the tool refused; the message says what to do about it."""

    def __init__(self, tool: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool
        self.status = status


class AuthError(ApiError):
    """401/403: retrying cannot help, the credentials or permissions are wrong."""


class RetryableError(ApiError):
    def __init__(
        self, tool: str, message: str, status: int | None, retry_after: float | None
    ) -> None:
        super().__init__(tool, message, status)
        self.retry_after = retry_after


class NotAnAnswer(RetryableError):
    """A success status whose body is not the API's answer: a vendor's error body, a
    proxy's HTML page, an empty or unparsable body, or a page without the records key the
    API documents. It is a failed request, retried like a 5xx: a 200 that is no answer must
    never be read as "no records" (a sweep would delete everything)."""

    def __init__(self, tool: str, message: str, status: int | None = None) -> None:
        super().__init__(tool, message, status, None)


class Answer(requests.Response):
    """A response whose JSON body was parsed once, when it was checked."""

    parsed: Any

    def json(self, **kwargs: Any) -> Any:
        return self.parsed


def error_in(body: Any) -> str | None:
    """The message of a vendor's error body sent with a success status, else None: Jira's
    errorMessages, Zendesk's error, Intercom's error.list, HubSpot's status error,
    Salesforce's list of errorCode, Freshdesk's code/message."""
    if isinstance(body, list):
        first = body[0] if body else None
        if isinstance(first, dict) and "errorCode" in first and "message" in first:
            return f"{first['errorCode']}: {first['message']}"
        return None
    if not isinstance(body, dict):
        return None
    keys = set(body)
    if body.get("errorMessages"):
        return "; ".join(str(m) for m in body["errorMessages"])
    if body.get("type") == "error.list" or body.get("status") == "error":
        return str(body.get("errors") or body.get("message") or body)
    if "error" in keys and keys <= {"error", "description", "details"}:
        return f"{body['error']}: {body.get('description', '')}".rstrip(": ")
    if keys and keys <= {"code", "message", "description", "errors"} and keys & {"code", "errors"}:
        return str(body.get("message") or body.get("description") or body)
    return None


@dataclass(frozen=True)
class Shape:
    """A page as the API documents it: the key its records are under (a list), and the
    types its paging keys take (dotted paths; a key may be absent where None is allowed)."""

    records: str
    paging: tuple[tuple[str, tuple[type, ...]], ...] = ()


def checked_records(tool: str, what: str, body: Any, records: str | Shape | None) -> Any:
    """`body` when it has the documented shape: a list where `records` is "[]" (a bare
    list of records), else a dict whose `records` key holds a list, with each paging key of
    its documented type. Raises NotAnAnswer."""
    if records is None:
        return body
    shape = records if isinstance(records, Shape) else Shape(records)
    if shape.records == "[]":
        if isinstance(body, list):
            return body
        raise NotAnAnswer(tool, f"{what}: expected a list of records, got {_preview(body)}")
    if not (isinstance(body, dict) and isinstance(body.get(shape.records), list)):
        raise NotAnAnswer(
            tool, f"{what}: the answer has no {shape.records!r} list: {_preview(body)}"
        )
    for path, types in shape.paging:
        value: Any = body
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, types):
            raise NotAnAnswer(tool, f"{what}: {path} is {value!r}, not what the API documents")
    return body


NONE = type(None)


def answer_of(tool: str, what: str, body: Any, records: str | Shape | None = None) -> Any:
    """`body`, parsed by another client (the `jira` package), once it is no vendor error
    body and has its documented records key; else NotAnAnswer."""
    problem = error_in(body)
    if problem is not None:
        raise NotAnAnswer(tool, f"{what} answered with an error: {problem[:200]}")
    return checked_records(tool, what, body, records)


def _preview(body: Any) -> str:
    text = repr(body)
    return text if len(text) <= 120 else f"{text[:117]}..."


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_rate_limit_reset(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds until `X-RateLimit-Reset`: unix seconds (Intercom, whose 429 carries no
    Retry-After) or ISO 8601 (Jira); None when absent or unreadable."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    try:
        when = datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class EnvironmentOnce(requests.Session):
    """A session that reads the proxy and CA bundle settings from the environment once per
    host, not on every call as requests does: that lookup was a tenth of a sync's time in
    HTTP. A call given its own proxies, verify or cert is merged afresh."""

    def __init__(self) -> None:
        super().__init__()
        self._merged: dict[tuple[str, str], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        if host not in self._merged:
            self._merged[host] = super().merge_environment_settings(url, {}, None, None, None)
        merged = dict(self._merged[host])
        merged["proxies"] = dict(merged["proxies"])
        if stream is not None:
            merged["stream"] = stream
        return merged


class ApiClient:
    """A requests session for one tool, with the retry policy every connector shares."""

    def __init__(
        self,
        tool: str,
        base_url: str,
        *,
        auth: requests.auth.AuthBase | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        credential_settings: str,
        secrets: Iterable[str] = (),
        calls: Calls = Calls(),
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
    ) -> None:
        self.tool = tool
        self.base_url = base_url.rstrip("/")
        self.session = EnvironmentOnce()
        self.session.auth = auth
        self.session.headers.update({"Accept": "application/json", "User-Agent": "pmsync/0.1"})
        self.session.headers.update(headers or {})
        self.credential_settings = credential_settings
        self.secrets = [s for s in secrets if s]
        if isinstance(auth, tuple):
            # An echoed Authorization header carries the pair in base64: hide that too.
            self.secrets.append(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        self.timeout = calls.timeout
        self.max_attempts = calls.max_attempts
        self.sleep = calls.sleep
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _send(
        self, method: str, url: str, kwargs: dict[str, Any], records: str | Shape | None = None
    ) -> requests.Response:
        throttle = _throttles.get(self.tool)
        if throttle is not None:
            throttle()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except TRANSPORT_ERRORS as error:
            raise RetryableError(
                self.tool, f"{method} {url} failed: {type(error).__name__}", None, None
            ) from None
        log.debug("%s %s %s -> %s", self.tool, method, url, response.status_code)
        self.check(response, f"{method} {url}")
        return self.answer(response, f"{method} {url}", method, records)

    def request(
        self,
        method: str,
        path: str,
        records: str | Shape | None = None,
        *,
        retry_only: frozenset[int] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One API call with retries; returns the successful response or raises ApiError.

        `records`: the key the API documents its records under ("[]" for a bare list); a
        body without it is a failed request (NotAnAnswer), retried like a 5xx.
        `retry_only`: retry only these statuses (a 429, which the server did not act on),
        for a call whose retry could skip data the failed attempt consumed (a server-side
        scroll): the caller starts over instead."""
        url = self.url(path)
        return self.call(lambda: self._send(method, url, kwargs, records), retry_only)

    def answer(
        self,
        response: requests.Response,
        what: str,
        method: str,
        records: str | Shape | None = None,
    ) -> requests.Response:
        """The response of a call that succeeded, once its body is the API's answer: JSON
        (parsed once) that is no vendor error body, or no body where none is due."""
        status = response.status_code
        kind = response.headers.get("Content-Type", "").lower()
        if "html" in kind:
            raise NotAnAnswer(self.tool, f"{what} answered {status} with an HTML page", status)
        if not response.content:
            if status == 200 or method == "GET" or records is not None:
                raise NotAnAnswer(self.tool, f"{what} answered {status} with no body", status)
            return response
        if "json" not in kind and records is None:
            return response  # not a JSON answer (none of pmsync's reads are)
        try:
            parsed = response.json()
        except ValueError:
            raise NotAnAnswer(self.tool, f"{what} answered {status} with no JSON", status) from None
        problem = error_in(parsed)
        if problem is not None:
            message = redact(problem, self.secrets)[:200]
            raise NotAnAnswer(
                self.tool, f"{what} answered {status} with an error: {message}", status
            )
        checked_records(self.tool, what, parsed, records)
        response.__class__ = Answer
        response.parsed = parsed  # type: ignore[attr-defined]
        return response

    def write_once(
        self,
        method: str,
        path: str,
        created: Callable[[requests.Response], T],
        find_existing: Callable[[], T | None],
        **kwargs: Any,
    ) -> T:
        """A write that must land once (a comment, a note): before each retry, look whether
        the failed attempt landed after all, since a dropped connection or a 5xx can hide a
        write the server made."""
        url = self.url(path)
        tried = False

        def attempt() -> T:
            nonlocal tried
            if tried:
                existing = find_existing()
                if existing is not None:
                    return existing
            tried = True
            return created(self._send(method, url, kwargs))

        return self.call(attempt)

    def get_json(self, path: str, records: str | Shape | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, records, **kwargs).json()

    def check(self, response: requests.Response, what: str) -> None:
        """Turn an HTTP failure into the error that says whether to retry and what to fix."""
        status = response.status_code
        if status < 400:
            return
        # Redact before cutting: a secret straddling the cut would leak its first part.
        body = redact(response.text, self.secrets)[:300]
        if status in RETRYABLE_STATUS:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None and status == 429:
                wait = parse_rate_limit_reset(response.headers.get("X-RateLimit-Reset"))
            raise RetryableError(self.tool, f"{what} answered {status}", status, wait)
        if status in (401, 403):
            raise AuthError(
                self.tool,
                f"{what} answered {status}: the credentials were "
                f"refused; check {self.credential_settings}. {body}",
                status,
            )
        raise ApiError(self.tool, f"{what} answered {status}: {body}", status)

    def call(self, attempt: Callable[[], T], retry_only: frozenset[int] | None = None) -> T:
        """Run `attempt` until it succeeds, retrying only RetryableError (of the statuses
        `retry_only`, when given), never waiting less than the server's Retry-After."""

        def worth_retrying(error: BaseException) -> bool:
            if not isinstance(error, RetryableError):
                return False
            return retry_only is None or error.status in retry_only

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            retry=retry_if_exception(worth_retrying),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(attempt)

    def _wait(self, state: RetryCallState) -> float:
        backoff: float = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome else None
        asked: float | None = getattr(error, "retry_after", None)
        return max(backoff, asked) if asked is not None else backoff

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s; retry %d/%d in %.1fs", error, state.attempt_number, self.max_attempts - 1, wait
        )


class RateBudget:
    """A token bucket: at most `rate` calls a second on average, `burst` at once.

    Keeps one process under a tool's limit before the tool has to say 429."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> None:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)


# Per tool, what to call before every request: a local RateBudget, or a Prefect global
# rate limit when several workers share one tool's budget (installed by flows.budgets).
_throttles: dict[str, Callable[[], None]] = {}


def set_throttle(tool: str, throttle: Callable[[], None] | None) -> None:
    if throttle is None:
        _throttles.pop(tool, None)
    else:
        _throttles[tool] = throttle
