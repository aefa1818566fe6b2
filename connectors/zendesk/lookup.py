"""Zendesk's single-record reads (what a webhook named, read back from the API)."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.http import ApiError
from connectors.lookup import path_id
from connectors.zendesk import client
from connectors.zendesk.client import ZendeskConnector
from connectors.zendesk.settings import ZendeskSettings


def read_ticket(connector: ZendeskConnector, ticket_id: str, settings: ZendeskSettings) -> Any:
    body = connector.api.get_json(
        f"/api/v2/tickets/{path_id(ticket_id)}.json", params={"include": "users"}
    )
    raw = body["ticket"]
    if raw.get("status") == "deleted":
        return None
    users = {user.get("id"): user for user in body.get("users") or ()}
    requester = raw.get("requester_id")
    if requester is not None and requester not in users:
        try:
            user = connector.api.get_json(f"/api/v2/users/{path_id(requester)}.json")
            users[requester] = user.get("user") or {}
        except ApiError as error:
            if error.status != 404:
                raise  # a deleted requester leaves the ticket without an email
    return raw, partial(client.ticket_from_raw, site=connector.site, users=users)


def read_organization(connector: ZendeskConnector, org_id: str, settings: ZendeskSettings) -> Any:
    body = connector.api.get_json(f"/api/v2/organizations/{path_id(org_id)}.json")
    return body["organization"], partial(client.organization_from_raw, site=connector.site)
