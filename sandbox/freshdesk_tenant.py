"""What a tenant profile changes in Freshdesk's records (sandbox.tenants).

`messy`: what real helpdesks hold. Requesters who wrote from a phone number (no email);
tickets without a type, an agent or a plain-text description; empty custom fields; spam;
companies with no domains or no description (their names stay the CRM's, so accounts still
join by name); people's names that are not ASCII; descriptions that run long. Which company
a ticket counts for stays what the world planted.
"""

from typing import Any

from sandbox.freshdesk_data import FreshdeskStore
from sandbox.tenants import MESSY_NAMES as NAMES
from sandbox.tenants import messy_once

FOOTER = (
    "\n\n-- \nCe message et ses pièces jointes sont confidentiels et destinés exclusivement à "
    "leurs destinataires. " + "Si vous avez reçu ce message par erreur, merci de le détruire. " * 12
)


def apply(store: FreshdeskStore, tenant: Any) -> None:
    """Change the store as the tenant's helpdesk would hold it; once per store."""
    if not messy_once(store, tenant):
        return
    contacts = sorted(store.contacts.values(), key=lambda c: int(c["id"]))
    for index, contact in enumerate(contacts):
        if index % 4 == 0:  # wrote from a phone: Freshdesk keeps no email for them
            contact.update(
                email=None, mobile=f"+33 6 12 34 {index // 100 % 100:02d} {index % 100:02d}"
            )
        elif index % 3 == 1:
            contact["name"] = NAMES[index % len(NAMES)]
    for index, company in enumerate(sorted(store.companies.values(), key=lambda c: int(c["id"]))):
        if index % 3 == 0:
            company.update(domains=[], description=None, account_tier=None, industry=None)
    for index, ticket in enumerate(sorted(store.tickets.values(), key=lambda t: int(t["id"]))):
        if ticket.get("deleted"):
            continue
        if index % 5 == 1:
            ticket.update(type=None, responder_id=None, custom_fields={"cf_category": None})
        if index % 6 == 2:  # only the HTML description: plain text missing
            ticket["description_text"] = None
        if index % 7 == 3:
            text = (ticket.get("description_text") or "") + FOOTER
            ticket["description_text"] = text
            ticket["description"] = f"{ticket.get('description') or ''}<p>{FOOTER.strip()}</p>"
        if index % 23 == 11:
            ticket["spam"] = True  # listed under filter=spam only
