"""What one HubSpot portal has of the optional parts pmsync uses: the custom deal property
that names Jira issues, the portal's company currency, and the scopes that closing-the-loop
notes need. Read once per pull (connectors.hubspot.client) and probed by `pmsync check`.

- Custom properties differ per portal. The Properties API (`GET /crm/v3/properties/deals`)
  lists those that exist; a property asked for in `properties=` that does not exist is
  silently left out of the answer, so only the Properties API can tell that it is missing.
  Reading it needs the scope `crm.schemas.deals.read`.
- `amount` is in each deal's own currency (`deal_currency_code`); `amount_in_home_currency`
  is in the portal's company currency, which the account information API names
  (`GET /account-info/v3/details` -> `companyCurrency`).
- Notes are engagements: HubSpot's notes guide asks for `crm.objects.contacts.read` and
  `crm.objects.contacts.write`. Without them every notes call answers
  403 `MISSING_SCOPES`; a one-note read shows it without writing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from connectors.base import Capability
from connectors.http import ApiClient, ApiError, RetryableError

log = logging.getLogger("pmsync.hubspot")

ISSUE_KEYS_PROPERTY = "jira_issue_keys"
NOTES_SCOPES = "crm.objects.contacts.read and crm.objects.contacts.write"
# Every scope pmsync's private app needs, for messages that say what to grant.
SCOPES = (
    "crm.objects.deals.read",
    "crm.objects.companies.read",
    "crm.schemas.deals.read",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
)
ISSUE_KEYS_MISSING = (
    f"the portal has no deal property {ISSUE_KEYS_PROPERTY}: deals are not linked by the "
    f"issue keys typed on them; create the deal property {ISSUE_KEYS_PROPERTY} (single-line "
    "text) in HubSpot's property settings to turn it on"
)


def deal_property_names(api: ApiClient) -> set[str] | None:
    """The names of the portal's deal properties, or None when they cannot be read (the app
    lacks crm.schemas.deals.read): then nothing is known to be missing."""
    try:
        body = api.get_json("/crm/v3/properties/deals")
    except ApiError as error:
        if not refused(error):
            raise  # unreachable, failing or no answer: the pull fails, it is not a feature
        log.warning(
            "hubspot: cannot list the deal properties (%s); needs crm.schemas.deals.read", error
        )
        return None
    return {str(p.get("name")) for p in body.get("results", []) if isinstance(p, dict)}


def company_currency(api: ApiClient) -> str | None:
    """The portal's company currency (ISO code), which `amount_in_home_currency` is in."""
    try:
        body = api.get_json("/account-info/v3/details")
    except ApiError as error:
        if not refused(error):
            raise
        log.warning("hubspot: cannot read the account's company currency: %s", error)
        return None
    currency = body.get("companyCurrency") if isinstance(body, dict) else None
    return str(currency) if currency else None


def refused(error: ApiError) -> bool:
    """A refusal (a scope the app lacks, an endpoint the portal has not), which switches a
    feature off; anything else (unreachable, 5xx, a 200 that is no answer) is a failure."""
    return error.status in (401, 403, 404) and not isinstance(error, RetryableError)


def _probe(call: Callable[[], Any]) -> ApiError | None:
    try:
        call()
    except ApiError as error:
        return error
    return None


def capabilities_of(api: ApiClient) -> list[Capability]:
    """Each HubSpot feature pmsync uses, available or missing (and what to change), from one
    cheap read each."""
    found = [
        _read("deals", api, "/crm/v3/objects/deals", "crm.objects.deals.read"),
        _read("companies", api, "/crm/v3/objects/companies", "crm.objects.companies.read"),
        _issue_keys(api),
        _notes(api),
        _currency(api),
    ]
    return found


def _read(name: str, api: ApiClient, path: str, scope: str) -> Capability:
    error = _probe(lambda: api.get_json(path, params={"limit": 1}))
    if error is None:
        return Capability("hubspot", name, True, f"{name} readable")
    return Capability("hubspot", name, False, f"{error.status}: give the private app {scope}")


def _issue_keys(api: ApiClient) -> Capability:
    error = _probe(lambda: api.get_json(f"/crm/v3/properties/deals/{ISSUE_KEYS_PROPERTY}"))
    if error is None:
        return Capability(
            "hubspot", "deal_issue_keys", True, f"deal property {ISSUE_KEYS_PROPERTY} exists"
        )
    if error.status == 404:
        return Capability("hubspot", "deal_issue_keys", False, ISSUE_KEYS_MISSING)
    return Capability(
        "hubspot",
        "deal_issue_keys",
        False,
        f"cannot check the deal property {ISSUE_KEYS_PROPERTY} ({error.status}): give the "
        "private app crm.schemas.deals.read",
    )


def _notes(api: ApiClient) -> Capability:
    error = _probe(lambda: api.get_json("/crm/v3/objects/notes", params={"limit": 1}))
    if error is None:
        return Capability(
            "hubspot",
            "closing_notes",
            True,
            f"notes readable (writing them needs {NOTES_SCOPES})",
        )
    return Capability(
        "hubspot",
        "closing_notes",
        False,
        f"notes answered {error.status}: closing-the-loop notes on deals stay pending until "
        f"the private app has {NOTES_SCOPES}",
    )


def _currency(api: ApiClient) -> Capability:
    currency = company_currency(api)
    if currency:
        return Capability(
            "hubspot",
            "company_currency",
            True,
            f"deal amounts are summed in the company currency {currency} (amount_in_home_currency)",
        )
    return Capability(
        "hubspot",
        "company_currency",
        False,
        "the account information API did not name the company currency: amounts are summed "
        "in the home currency without naming it",
    )


def home_amount_source(props: dict[str, Any]) -> str:
    """Which property holds the deal's amount in the company currency: a multi-currency
    portal's `amount_in_home_currency`, else `amount` (a single-currency portal's amounts
    are in its only currency)."""
    if props.get("amount_in_home_currency") not in (None, ""):
        return "amount_in_home_currency"
    return "amount"
