"""Intercom, a support tool: conversations and companies."""

from __future__ import annotations

import re
from typing import Any

from connectors.intercom import client, webhook
from connectors.intercom.lookup import check_intercom, read_company, read_conversation
from connectors.intercom.notes import IntercomNotes
from connectors.intercom.settings import IntercomSettings
from connectors.notes import NOTE_MARKER
from connectors.registry import SUPPORT, OwnWriteContext, Reader, RecordPages, Vendor, Webhook
from connectors.webhook import body_text, pick
from models import Record


def _conversation(raw: dict[str, Any], context: dict[str, Any], s: IntercomSettings) -> Record:
    contact = context.get("contact") or {}
    contacts = {client.requester_id(raw) or "": contact} if contact else {}
    return client.conversation_from_raw(raw, context.get("inbox"), contacts)


def _own_write(payload: Any, context: OwnWriteContext) -> str | None:
    parts = pick(payload, "data", "item", "conversation_parts", "conversation_parts")
    notes = isinstance(parts, list) and parts
    if notes and all(NOTE_MARKER.search(body_text(pick(p, "body"))) for p in parts):
        return "pmsync's note"
    return None


VENDOR = Vendor(
    "intercom",
    SUPPORT,
    client.IntercomConnector,
    "intercom_url",
    check=check_intercom,
    capabilities=client.capabilities,
    lookups={
        "conversation": Reader("feedback", read_conversation),
        "company": Reader("account", read_company),
    },
    named_accounts="company",
    record_pages=RecordPages(
        re.compile(r"/conversations?/(\d+)(?:[/?#]|$)"), ("intercom.com", "intercom.io")
    ),
    notes=lambda s: IntercomNotes(client.IntercomConnector(s).api),
    webhook=Webhook.of(webhook),
    own_write=_own_write,
    rebuilders={
        "feedback": _conversation,
        "account": lambda raw, ctx, s: client.company_from_raw(raw, ctx.get("pages")),
    },
    needs_context=frozenset({"feedback"}),
)
