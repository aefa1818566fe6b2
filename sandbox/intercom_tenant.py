"""What a tenant profile changes in Intercom's records (sandbox.tenants).

`messy`: what real workspaces hold besides tidy users with an email. Leads (visitors who
left no email) start conversations; teammates start some (an admin's outbound message, its
`source.author` the admin and the customer only in `contacts`) and Operator bots others;
emailed conversations carry an HTML subject; companies lack a website, an industry or a
size (their names stay the CRM's, so accounts still join by name); people's names are not
ASCII; a message runs long. Who asked and for which company stays what the world planted:
only how Intercom shows it changes.
"""

import html
from typing import Any

from sandbox.intercom_data import IntercomStore
from sandbox.tenants import MESSY_NAMES as NAMES
from sandbox.tenants import messy_once

BOT = {"type": "bot", "id": "815309", "name": "Operator", "email": "operator+sbx7acme@intercom.io"}
# A signature and disclaimer as mail clients append them: long, and no demand in it.
DISCLAIMER = (
    "<p>--<br>Envoyé depuis mon téléphone. Ce message et ses pièces jointes sont "
    "confidentiels et destinés exclusivement à leurs destinataires. "
    + "Si vous avez reçu ce message par erreur, merci de le détruire et d'en avertir "
    "l'expéditeur. " * 12 + "</p>"
)


def _lead(contact: dict[str, Any], name: str | None) -> None:
    """A lead who never gave an email: Intercom keeps its companies, not an address."""
    contact.update(role="lead", email=None, name=name, signed_up_at=None, external_id=None)


def apply(store: IntercomStore, tenant: Any) -> None:
    """Change the store as the tenant's workspace would hold it; once per store."""
    if not messy_once(store, tenant):
        return
    contacts = sorted(store.contacts.values(), key=lambda c: str(c["id"]))
    leads = {str(c["id"]) for c in contacts[::4]}
    for index, contact in enumerate(contacts):
        if str(contact["id"]) in leads:
            _lead(contact, None if index % 8 == 0 else NAMES[index % len(NAMES)])
        elif index % 3 == 1:
            contact["name"] = NAMES[index % len(NAMES)]
    for index, company in enumerate(sorted(store.companies.values(), key=lambda c: str(c["id"]))):
        if index % 3 == 0:
            company.update(website=None, industry=None, size=None)
    ordered = sorted(store.conversations.values(), key=lambda c: int(c["id"]))
    for index, conversation in enumerate(ordered):
        source = conversation["source"]
        author = source["author"]
        writer = store.contacts.get(str(author.get("id")))
        if writer is not None:  # who wrote, as Intercom shows them now
            author.update(type=writer["role"], name=writer["name"], email=writer["email"])
            if writer["role"] == "lead":
                author.pop("email")  # a lead author names no email at all
        if source["type"] == "email" and source.get("subject"):
            source["subject"] = f"<p>{html.escape(source['subject'])}</p>"
        if index % 7 == 3:
            teammate = store.admins.get(str(conversation.get("admin_assignee_id")))
            if teammate is not None:
                source["author"] = {k: teammate[k] for k in ("type", "id", "name", "email")}
                source["delivered_as"] = "admin_initiated"
        elif index % 11 == 5:
            source["author"] = dict(BOT)
            source["delivered_as"] = "operator_initiated"
        if index % 5 == 2:
            source["body"] = source["body"] + DISCLAIMER
        if index % 6 == 1:  # optional objects a workspace without the feature leaves out
            conversation.update(
                teammates=None, first_contact_reply=None, custom_attributes={}, topics={}
            )
