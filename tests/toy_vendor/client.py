"""The toy tool's settings, client, stream and builder.

Its API: `GET /tickets?since=<ISO time>` answers `{"tickets": [...]}`, the tickets changed
at or after `since`, oldest first; `GET /tickets/<id>` one ticket.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base import CursorReader, Page, convert, parse_time
from connectors.http import ApiClient, Calls
from connectors.lookup import path_id
from connectors.settings import Settings
from models import Feedback

STREAM = "toy.tickets"


class ToySettings(BaseSettings):
    """The toy's own settings, read from PMSYNC_TOY_* (the core settings know none)."""

    model_config = SettingsConfigDict(env_prefix="PMSYNC_TOY_", extra="ignore")

    url: str | None = None


def ticket_from_raw(raw: dict[str, Any], site: str) -> Feedback:
    return Feedback(
        source="toy",
        id=str(raw["id"]),
        url=f"{site}/tickets/{raw['id']}",
        updated_at=parse_time(raw["updated_at"], "updated_at"),
        subject=raw.get("subject") or "",
        body=raw.get("body") or "",
        status=raw.get("status") or "open",
        requester_email=raw.get("email"),
    )


class ToyConnector:
    tool = "toy"

    def __init__(self, settings: Settings) -> None:
        self.site = (ToySettings().url or "").rstrip("/")
        self.api = ApiClient(
            "toy",
            self.site,
            credential_settings="PMSYNC_TOY_URL",
            calls=Calls.per(settings),
        )

    def pull(
        self, cursor_for: CursorReader, full: bool = False, *, since: Any = None, **window: Any
    ) -> Iterator[Page]:
        """Tickets changed since the cursor (a backfill's `until` and `listings` are moot:
        the toy has one stream and no listings)."""
        start = None if full else cursor_for(STREAM)
        params = {"since": start or (since.isoformat() if since else "")}
        tickets = self.api.get_json("/tickets", params=params)["tickets"]
        page = Page("toy", "feedback", STREAM)
        for raw in tickets:
            convert(page, raw, partial(ticket_from_raw, site=self.site))
        newest = max((r.updated_at for r in page.records), default=None)
        page.cursor = newest.isoformat() if newest else None
        yield page

    def check(self) -> str:
        self.api.get_json("/tickets", params={"since": ""})
        return f"{self.site}: tickets readable"


def read_ticket(connector: ToyConnector, ticket_id: str, settings: Settings) -> Any:
    raw = connector.api.get_json(f"/tickets/{path_id(ticket_id)}")
    return raw, partial(ticket_from_raw, site=connector.site)
