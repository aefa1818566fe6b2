"""What every tool's receiver shares: the request as signed, rejections, hints, helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from pydantic import SecretStr

from store.inbox import Delivery

# HubSpot documents five minutes for its timestamp; the same window serves Zendesk's.
MAX_AGE = timedelta(minutes=5)


class Rejected(Exception):
    """A delivery refused. `reason` is logged and answered: it never holds the body, a
    header value or a secret, only a fixed phrase."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class SignedRequest:
    """A delivery as its signature covers it."""

    method: str
    uri: str  # the URL the vendor called: HubSpot signs it
    headers: Mapping[str, str]  # case-insensitive (starlette's Headers)
    body: bytes
    now: datetime

    def header(self, name: str) -> str:
        return self.headers.get(name, "").strip()


Verifier = Callable[[SignedRequest], None]


class Hint(NamedTuple):
    """A record a delivery says changed. Only a hint: the dispatcher re-reads the record
    from the tool's API, so a forged field inside a valid envelope changes nothing."""

    tool: str
    kind: str
    record_id: str


def secret_bytes(secret: SecretStr | None) -> bytes | None:
    """The configured secret, or None when unset or empty (the tool accepts nothing)."""
    if secret is None or not secret.get_secret_value():
        return None
    return secret.get_secret_value().encode("utf-8")


def keyed(secret: SecretStr | None, verify: Callable[..., None], *args: Any) -> Verifier | None:
    """`verify(secret, *args, request)` with the configured secret, or None when it is unset
    or empty (the tool accepts nothing)."""
    key = secret_bytes(secret)
    return partial(verify, key, *args) if key else None


def same(expected: str | bytes, provided: str | bytes) -> bool:
    """Constant-time comparison; bytes on both sides, since `compare_digest` refuses
    non-ASCII str and a header may carry anything."""
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    if isinstance(provided, str):
        provided = provided.encode("utf-8")
    return hmac.compare_digest(expected, provided)


def hmac_hex(secret: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret, message, digest).hexdigest()


def hmac_base64(secret: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode("ascii")


def signature(request: SignedRequest, header: str) -> str:
    """The signature a delivery carries in `header`; a delivery without one is refused."""
    provided = request.header(header)
    if not provided:
        raise Rejected("missing signature")
    return provided


def require_signature(expected: str | bytes, provided: str | bytes) -> None:
    if not same(expected, provided):
        raise Rejected("bad signature")


def signed_timestamp(request: SignedRequest, header: str, parse: Callable[[str], datetime]) -> str:
    """The timestamp a signature covers, from `header` as the tool wrote it; refused when
    missing, unreadable (`parse` raises `Rejected`) or outside the window."""
    timestamp = request.header(header)
    if not timestamp:
        raise Rejected("missing timestamp")
    require_fresh(parse(timestamp), request.now)
    return timestamp


def verify_hub_signature(secret: bytes, digest: str, request: SignedRequest) -> None:
    """`X-Hub-Signature: <digest>=<hex HMAC(secret, raw body)>`, the scheme GitHub's
    webhooks made common; it carries no timestamp, so the dedupe stops a replay."""
    provided = signature(request, "x-hub-signature")
    require_signature(f"{digest}={hmac_hex(secret, request.body, digest)}", provided)


def require_fresh(sent_at: datetime, now: datetime) -> None:
    """Reject a replay: older than the window, or as far in the future (clock skew)."""
    if abs(now - sent_at) > MAX_AGE:
        raise Rejected("stale timestamp")


def body_id(body: bytes) -> str:
    """The delivery id of a vendor that sends none: identical bodies are one delivery."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def fingerprint(*signed: bytes) -> str:
    """A hash of what the vendor signed of one event (the inbox's second dedupe key)."""
    return body_id(b"".join(signed))


def delivery_id(value: Any, fallback: bytes) -> str:
    """A vendor's id as a string fit for the inbox; the body's hash when it is missing."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return body_id(fallback)
    text = str(value).strip()
    # The column holds 255 characters; a longer id is still unique as its hash.
    return text if len(text) <= 200 else body_id(text.encode("utf-8"))


def record_id(value: Any) -> str | None:
    """An id from a payload as the store spells it, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def pick(payload: Any, *path: str) -> Any:
    """payload[path[0]][path[1]]..., or None where anything on the way is missing."""
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def unique(hints: list[Hint]) -> list[Hint]:
    return list(dict.fromkeys(hints))


def require_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Rejected("expected a JSON object", status=400)
    return payload


def signed_object(payload: Any, key: Any, request: SignedRequest, *signed: bytes) -> list[Delivery]:
    """A delivery that is one JSON object: deduplicated on the tool's `key` for it (the
    body's hash without one) and on a hash of what the signature covers, the raw body unless
    `signed` names more."""
    require_object(payload)
    covered = fingerprint(*signed) if signed else fingerprint(request.body)
    return [Delivery(delivery_id(key, request.body), payload, fingerprint=covered)]


def body_text(node: Any) -> str:
    """The text of a comment or note body: plain text (webhooks use REST v2), HTML as it
    is, or Atlassian's document format (its text nodes joined)."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return str(node.get("text") or "") + "".join(
            body_text(c) for c in node.get("content") or []
        )
    if isinstance(node, list):
        return "".join(body_text(c) for c in node)
    return ""
