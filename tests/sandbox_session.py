"""Helpers for tests that talk to a running sandbox over HTTP, as a vendor's client would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests


class ToolSession(requests.Session):
    """A session on one tool's base URL: each request names only the path after it."""

    def __init__(self, base: str, headers: dict[str, str] | None = None, auth: Any = None) -> None:
        super().__init__()
        self.base, self.auth = base, auth
        self.headers.update(headers or {})

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        return super().request(method, f"{self.base}{url!s}", *args, **kwargs)


Session = TypeVar("Session", bound=ToolSession)


@contextmanager
def sandbox_session(
    session: Callable[[str], Session], tool: str, **options: Any
) -> Iterator[Session]:
    """A sandbox of its own (seed 7, with these options) and a session on one of its tools."""
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, **options) as server, session(f"{server.url}/{tool}") as opened:
        yield opened


@contextmanager
def configured_sandbox(seed: int, **config: Any) -> Iterator[Any]:
    """A sandbox of its own with these `/_sandbox/config` settings."""
    from sandbox.server import start_sandbox

    with start_sandbox(seed=seed) as server:
        requests.post(f"{server.url}/_sandbox/config", json=config, timeout=30).raise_for_status()
        yield server


def salesforce_token(sandbox_url: str, timeout: float | None = None) -> requests.Response:
    """The sandbox's answer to the demo org's client-credentials login."""
    return requests.post(
        f"{sandbox_url}/salesforce/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo@example.com",
            "client_secret": "sandbox",
        },
        timeout=timeout,
    )
