"""Tenant profiles: how one customer's accounts in the six tools differ from another's.

Real tenants vary in permissions, custom fields, plans and currencies. A profile says which
of those documented variations this sandbox shows; every vendor emulator reads the profile
of its state (`SandboxState.tenant`) and answers as the vendor does for such a tenant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Tenant:
    name: str
    description: str
    # Salesforce: the org has the custom field Opportunity.Jira_Issue_Keys__c (most orgs do
    # not; selecting it there answers 400 INVALID_FIELD for the whole query).
    salesforce_issue_keys_field: bool = True
    # HubSpot: the portal has the custom deal property `jira_issue_keys`.
    hubspot_issue_keys_property: bool = True
    # HubSpot: the private app holds crm.objects.contacts.read/write, which notes need.
    hubspot_notes_scopes: bool = True
    # Zendesk: the API token is an admin's. The Jira links listing is "Allowed for Admins":
    # an agent's token gets 403 there and nowhere else.
    zendesk_admin: bool = True
    # Jira: the API user is an admin, so `notifyUsers=false` on an edit is allowed (403
    # otherwise).
    jira_admin: bool = True
    # Deals in several currencies; the company (home) currency below. Single-currency
    # tenants have no currency fields on deals at all (Salesforce: no CurrencyIsoCode).
    multi_currency: bool = False
    home_currency: str = "USD"
    # The edge cases real tenants produce: nulls where values usually are, missing optional
    # objects, tickets by email with no organization, end users without email, leads and
    # admins as authors, non-ASCII and long text.
    messy: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TENANTS: dict[str, Tenant] = {
    tenant.name: tenant
    for tenant in (
        Tenant("full", "every optional feature: admin tokens, custom deal fields, one currency"),
        Tenant(
            "minimal",
            "no custom deal fields, an agent's Zendesk token (no Jira links), a Jira user "
            "who is no admin, a HubSpot app without the notes scopes",
            salesforce_issue_keys_field=False,
            hubspot_issue_keys_property=False,
            hubspot_notes_scopes=False,
            zendesk_admin=False,
            jira_admin=False,
        ),
        Tenant(
            "multi-currency",
            "deals in USD, EUR, GBP and JPY; the company currency is USD",
            multi_currency=True,
        ),
        Tenant(
            "messy", "the edge cases of real data: nulls, missing objects, odd text", messy=True
        ),
    )
}


def tenant_named(name: str) -> Tenant:
    try:
        return TENANTS[name]
    except KeyError:
        raise ValueError(
            f"unknown tenant profile {name!r}; expected one of {', '.join(TENANTS)}"
        ) from None


# Names beyond ASCII that a messy tenant's people carry.
MESSY_NAMES = (
    "Zoë Ångström",
    "Jürgen Groß",
    "Søren Kierkegård",
    "Łucja Wądołowska",
    "李雷",
    "Сергей Ильич",
)


def messy_once(store: Any, tenant: Any) -> bool:
    """Whether to give a store its messy tenant's variations now: once per store (its
    `tenant_applied` flag is set here), and only for a messy tenant."""
    if store.tenant_applied:
        return False
    store.tenant_applied = True
    return bool(getattr(tenant, "messy", False))
