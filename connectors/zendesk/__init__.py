"""Zendesk, a support tool: tickets, organizations and the Jira links of its Jira app."""

from __future__ import annotations

import re
from typing import Any

from connectors.base import configured_site, one_call
from connectors.notes import NOTE_MARKER
from connectors.registry import SUPPORT, OwnWriteContext, Reader, RecordPages, Vendor, Webhook
from connectors.webhook import pick
from connectors.zendesk import client, webhook
from connectors.zendesk.lookup import read_organization, read_ticket
from connectors.zendesk.notes import ZendeskNotes
from connectors.zendesk.settings import ZendeskSettings
from models import Record


def _ticket(raw: dict[str, Any], context: dict[str, Any], s: ZendeskSettings) -> Record:
    users = {user.get("id"): user for user in context.get("users") or ()}
    return client.ticket_from_raw(raw, configured_site(s.zendesk_url, "zendesk"), users)


def _own_write(payload: Any, context: OwnWriteContext) -> str | None:
    body = pick(payload, "event", "comment", "body")
    return "pmsync's note" if NOTE_MARKER.search(str(body or "")) else None


VENDOR = Vendor(
    "zendesk",
    SUPPORT,
    client.ZendeskConnector,
    "zendesk_url",
    check=one_call(
        client.ZendeskConnector,
        "/api/v2/organizations.json",
        {"page[size]": 1},
        "organizations",
    ),
    capabilities=client.capabilities,
    lookups={
        "ticket": Reader("feedback", read_ticket),
        "organization": Reader("account", read_organization),
    },
    tool_links=("ticket", lambda connector, ticket_id: connector.ticket_links(ticket_id)),
    record_pages=RecordPages(re.compile(r"/agent/tickets/(\d+)(?:[/?#]|$)"), ("zendesk.com",)),
    notes=lambda s: ZendeskNotes(client.ZendeskConnector(s).api),
    webhook=Webhook.of(webhook),
    own_write=_own_write,
    rebuilders={
        "feedback": _ticket,
        "account": lambda raw, ctx, s: client.organization_from_raw(
            raw, configured_site(s.zendesk_url, "zendesk")
        ),
        "tool_link": lambda raw, ctx, s: client.jira_link_from_raw(
            raw, configured_site(s.zendesk_url, "zendesk")
        ),
    },
    needs_context=frozenset({"feedback"}),
)
