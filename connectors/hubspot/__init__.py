"""HubSpot, a CRM: deals, companies and their revenue."""

from __future__ import annotations

import re
from typing import Any

from connectors.base import configured_site, one_call
from connectors.hubspot import client, webhook
from connectors.hubspot.features import ISSUE_KEYS_PROPERTY
from connectors.hubspot.lookup import capabilities, read_company, read_deal
from connectors.hubspot.notes import HubSpotNotes
from connectors.hubspot.settings import HubSpotSettings
from connectors.notes import NOTE_MARKER
from connectors.registry import CRM, OwnWriteContext, Reader, RecordPages, Vendor, Webhook
from connectors.webhook import pick
from models import Record

# HubSpot says which property changed: a change to one pmsync never reads moves nothing.
# (Its modification time alone changes with every edit, so it names nothing read.)
READS = {
    "deal": set(client.DEAL_PROPERTIES) - {"hs_lastmodifieddate"},
    "company": set(client.COMPANY_PROPERTIES) - {"hs_lastmodifieddate"},
}


def _deal(raw: dict[str, Any], context: dict[str, Any], s: HubSpotSettings) -> Record:
    companies = {str(raw.get("id")): tuple(context.get("companies") or ())}
    return client.deal_from_raw(
        raw, configured_site(s.hubspot_url, "hubspot"), companies, context.get("currency")
    )


def _own_write(payload: Any, context: OwnWriteContext) -> str | None:
    """The close-the-loop notes, and property changes pmsync does not read (a note moves
    `notes_last_updated`)."""
    name = str(pick(payload, "propertyName") or "")
    if name == "hs_note_body" and NOTE_MARKER.search(str(pick(payload, "propertyValue"))):
        return "pmsync's note"
    subscription = str(pick(payload, "subscriptionType") or "")
    kind, _, change = subscription.partition(".")
    if change == "propertyChange" and kind in READS and name not in READS[kind]:
        return f"{kind} property {name} is not one pmsync reads"
    return None


VENDOR = Vendor(
    "hubspot",
    CRM,
    client.HubSpotConnector,
    "hubspot_url",
    check=one_call(client.HubSpotConnector, "/crm/v3/objects/deals", {"limit": 1}, "deals"),
    capabilities=capabilities,
    lookups={"deal": Reader("deal", read_deal), "company": Reader("account", read_company)},
    record_pages=RecordPages(
        re.compile(r"/(?:record/0-3|deal|objects/deals)/(\d+)(?:[/?#]|$)"), ("hubspot.com",)
    ),
    notes=lambda s: HubSpotNotes(client.HubSpotConnector(s).api),
    deal_keys_field=ISSUE_KEYS_PROPERTY,
    webhook=Webhook.of(webhook),
    own_write=_own_write,
    shaping=frozenset({"hubspot_revenue_property"}),
    rebuilders={
        "deal": _deal,
        "account": lambda raw, ctx, s: client.company_from_raw(
            raw, configured_site(s.hubspot_url, "hubspot"), s.revenue_property()
        ),
    },
    needs_context=frozenset({"deal"}),
)
