"""Freshdesk's single-record reads (its trash and spam count as gone)."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.freshdesk import client
from connectors.freshdesk.client import FreshdeskConnector
from connectors.freshdesk.settings import FreshdeskSettings
from connectors.lookup import path_id


def read_ticket(connector: FreshdeskConnector, ticket_id: str, settings: FreshdeskSettings) -> Any:
    raw = connector.api.get_json(
        f"/api/v2/tickets/{path_id(ticket_id)}", params={"include": "requester"}
    )
    if raw.get("deleted") or raw.get("spam"):
        return None
    return raw, partial(client.ticket_from_raw, site=connector.site)


def read_company(
    connector: FreshdeskConnector, company_id: str, settings: FreshdeskSettings
) -> Any:
    raw = connector.api.get_json(f"/api/v2/companies/{path_id(company_id)}")
    return raw, partial(client.company_from_raw, site=connector.site)
