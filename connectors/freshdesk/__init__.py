"""Freshdesk, a support tool: tickets and companies."""

from __future__ import annotations

import re
from typing import Any

from connectors.base import configured_site, one_call
from connectors.freshdesk import client, webhook
from connectors.freshdesk.lookup import read_company, read_ticket
from connectors.freshdesk.notes import FreshdeskNotes
from connectors.notes import NOTE_MARKER
from connectors.registry import SUPPORT, OwnWriteContext, Reader, RecordPages, Vendor, Webhook
from connectors.webhook import pick


def _own_write(payload: Any, context: OwnWriteContext) -> str | None:
    hook = pick(payload, "freshdesk_webhook") or payload
    # The latest private comment stays in every later delivery: only the delivery of
    # the note itself is pmsync's.
    if "note_action" in str(pick(hook, "triggered_event") or "") and NOTE_MARKER.search(
        str(pick(hook, "ticket_latest_private_comment") or "")
    ):
        return "pmsync's note"
    return None


VENDOR = Vendor(
    "freshdesk",
    SUPPORT,
    client.FreshdeskConnector,
    "freshdesk_url",
    check=one_call(client.FreshdeskConnector, "/api/v2/companies", {"per_page": 1}, "companies"),
    capabilities=client.capabilities,
    lookups={
        "ticket": Reader("feedback", read_ticket),
        "company": Reader("account", read_company),
    },
    named_accounts="company",
    record_pages=RecordPages(
        re.compile(r"/(?:a|helpdesk)/tickets/(\d+)(?:[/?#]|$)"), ("freshdesk.com",)
    ),
    notes=lambda s: FreshdeskNotes(client.FreshdeskConnector(s).api),
    webhook=Webhook.of(webhook),
    own_write=_own_write,
    rebuilders={
        "feedback": lambda raw, ctx, s: client.ticket_from_raw(
            raw, configured_site(s.freshdesk_url, "freshdesk")
        ),
        "account": lambda raw, ctx, s: client.company_from_raw(
            raw, configured_site(s.freshdesk_url, "freshdesk")
        ),
    },
)
