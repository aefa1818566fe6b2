"""Intercom's single-record reads and its `pmsync check` call."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.intercom import client
from connectors.intercom.client import IntercomConnector
from connectors.intercom.settings import IntercomSettings
from connectors.lookup import path_id


def read_conversation(
    connector: IntercomConnector, conversation_id: str, settings: IntercomSettings
) -> Any:
    raw = connector.api.get_json(f"/conversations/{path_id(conversation_id)}")
    contacts = connector._contacts_of([raw])
    inbox = connector.inbox()
    return raw, partial(client.conversation_from_raw, inbox=inbox, contacts=contacts)


def read_company(connector: IntercomConnector, company_id: str, settings: IntercomSettings) -> Any:
    raw = connector.api.get_json(f"/companies/{path_id(company_id)}")
    return raw, partial(client.company_from_raw, pages=connector.company_pages())


def check_intercom(settings: IntercomSettings) -> str:
    """One conversation search: what every pull needs (`/me`, for links, is optional)."""
    api = IntercomConnector(settings).api
    query = {"field": "updated_at", "operator": ">", "value": 0}
    api.request(
        "POST", "/conversations/search", json={"query": query, "pagination": {"per_page": 1}}
    )
    return f"{api.base_url}: conversations readable"
