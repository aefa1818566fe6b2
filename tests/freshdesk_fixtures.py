"""What the Freshdesk connector tests share: the tickets listing's URL and pages, and a
connector."""

from __future__ import annotations

from datetime import UTC, datetime

from builders import FRESHDESK, RecordedSleep, sandbox_settings

from connectors.freshdesk.client import FreshdeskConnector

TICKETS_URL = f"{FRESHDESK}/api/v2/tickets"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `tickets(..., since=EPOCH)`: the whole listing


def connector(**settings) -> FreshdeskConnector:
    return FreshdeskConnector(sandbox_settings(**settings), sleep=RecordedSleep())


def page_url(n: int | str, since: str = "x") -> str:
    """The `Link` a listing page names its next page by."""
    return f"{TICKETS_URL}?updated_since={since}&page={n}"
