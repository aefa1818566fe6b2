"""Salesforce, a CRM: opportunities, accounts and their revenue."""

from __future__ import annotations

import re
from typing import Any

from connectors.base import configured_site
from connectors.notes import NOTE_MARKER
from connectors.registry import CRM, OwnWriteContext, Reader, RecordPages, Vendor, Webhook
from connectors.salesforce import client, webhook
from connectors.salesforce.lookup import check_salesforce, read_account, read_opportunity
from connectors.salesforce.notes import SalesforceNotes
from connectors.salesforce.settings import SalesforceSettings
from connectors.webhook import pick


def _site(context: dict[str, Any], s: SalesforceSettings) -> str:
    # The instance URL the token named when the record was read; the login URL otherwise.
    return configured_site(context.get("site") or s.salesforce_login_url, "salesforce")


def _own_write(payload: Any, context: OwnWriteContext) -> str | None:
    items = pick(payload, "new")
    items = items if isinstance(items, list) else [payload]
    notes = [
        item
        for item in items
        if isinstance(item, dict)
        and NOTE_MARKER.search(f"{item.get('Subject') or ''} {item.get('Description') or ''}")
    ]
    return "pmsync's note" if items and len(notes) == len(items) else None


VENDOR = Vendor(
    "salesforce",
    CRM,
    client.SalesforceConnector,
    "salesforce_login_url",
    check=check_salesforce,
    capabilities=client.capabilities,
    lookups={
        "opportunity": Reader("deal", read_opportunity),
        "account": Reader("account", read_account),
    },
    # Opportunity ids start with 006; 15 or 18 characters.
    record_pages=RecordPages(
        re.compile(r"/(006[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)(?:[/?#]|$)"),
        ("force.com", "salesforce.com"),
    ),
    notes=lambda s: SalesforceNotes(client.SalesforceConnector(s)),
    # As link evidence has always named a deal's issue keys (its field is Jira_Issue_Keys__c).
    deal_keys_field="jira_issue_keys",
    webhook=Webhook.of(webhook),
    own_write=_own_write,
    shaping=frozenset({"salesforce_revenue_field"}),
    rebuilders={
        "deal": lambda raw, ctx, s: client.opportunity_from_raw(raw, _site(ctx, s)),
        "account": lambda raw, ctx, s: client.account_from_raw(
            raw, _site(ctx, s), s.revenue_account_field()
        ),
    },
)
