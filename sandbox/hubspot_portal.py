"""HubSpot's account-level APIs: the Properties API, custom object schemas, account details
and the company currency, the 403 MISSING_SCOPES answer of an app without a scope, and the
JSON error of a route that does not exist. Schema-discovering clients call these first."""

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_data import (
    CALCULATED,
    DATES,
    NUMBERS,
    OBJECT_TYPES,
    TYPE_IDS,
    HubSpotStore,
)
from sandbox.state import SandboxState
from sandbox.web import json_response

PORTAL_ID = 4242  # the portal the sandbox's record URLs name (sandbox.jira_data)
CREATED = "2019-08-06T02:43:01.930Z"
BOOLEANS = {"hs_is_closed", "hs_is_closed_won"}
ENUMERATIONS = {"dealstage", "pipeline", "industry", "deal_currency_code", "hubspot_owner_id"}
CUSTOM = {"jira_issue_keys"}
GROUPS = {"deals": "dealinformation", "companies": "companyinformation", "notes": "engagement"}
SCOPES_URL = "https://developers.hubspot.com/scopes"
_BASIC = ("createdate", "hs_lastmodifieddate", "hs_object_id")
_CONTACT = ("createdate", "lastmodifieddate", "hs_object_id", "email", "firstname", "lastname")
# Standard objects this portal has no records of, by every name HubSpot takes (plural,
# singular, type id): their property group and basic properties.
STANDARD_WITHOUT_RECORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    alias: (group, props)
    for names, group, props in (
        (("contacts", "contact", "0-1"), "contactinformation", _CONTACT),
        (("tickets", "ticket", "0-5"), "ticketinformation", (*_BASIC, "subject", "content")),
        (("products", "product", "0-7"), "productinformation", (*_BASIC, "name", "price")),
        (("line_items", "line_item", "0-8"), "lineiteminformation", (*_BASIC, "name")),
        (("calls", "call", "0-48"), "engagement", (*_BASIC, "hs_timestamp")),
        (("emails", "email", "0-49"), "engagement", (*_BASIC, "hs_timestamp")),
        (("meetings", "meeting", "0-47"), "engagement", (*_BASIC, "hs_timestamp")),
        (("tasks", "task", "0-27"), "engagement", (*_BASIC, "hs_timestamp")),
        (("quotes", "quote", "0-14"), "quoteinformation", (*_BASIC, "hs_title")),
        (("feedback_submissions", "feedback_submission", "0-19"), "feedback", _BASIC),
        (("goal_targets", "goal_target", "0-74"), "goalinformation", _BASIC),
        (("leads", "lead", "0-136"), "leadinformation", _BASIC),
        (("deal_splits", "deal_split"), "dealsplitinformation", _BASIC),
        (("forms", "form"), "forminformation", _BASIC),
    )
    for alias in names
}


def error(status: int, message: str, category: str, **extra: Any) -> Response:
    """HubSpot's error body (its OpenAPI `Error`): status, message, correlationId, category."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return json_response(body, status)


def invalid(message: str) -> Response:
    return error(400, message, "VALIDATION_ERROR")


def missing_scopes(*scopes: str) -> Response:
    """What an app without a scope gets, on every endpoint that needs it."""
    return error(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more "
        f"about required scopes here: {SCOPES_URL}.",
        "MISSING_SCOPES",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredScopes": list(scopes)},
            }
        ],
        links={"scopes": SCOPES_URL},
    )


def notes_refused(state: SandboxState, *kinds: str) -> Response | None:
    """Notes are engagements: without crm.objects.contacts.read/write every call touching
    them answers 403 MISSING_SCOPES (HubSpot's notes guide)."""
    if state.tenant.hubspot_notes_scopes or "notes" not in kinds:
        return None
    return missing_scopes("crm.objects.contacts.read", "crm.objects.contacts.write")


def object_type(name: str) -> str | None:
    """`deals`, `deal` or `0-3` as `deals`; None for an object type the portal lacks."""
    return OBJECT_TYPES.get(name.lower())


def _definition(kind: str, name: str, order: int) -> dict[str, Any]:
    if name in DATES:
        kind_of, field = ("date", "date") if name == "closedate" else ("datetime", "date")
    elif name in NUMBERS:
        kind_of, field = "number", "calculation_equation" if name in CALCULATED else "number"
    elif name in BOOLEANS:
        kind_of, field = "bool", "calculation_equation"
    elif name in ENUMERATIONS:
        kind_of, field = "enumeration", "select"
    else:
        kind_of, field = "string", "textarea" if name == "hs_note_body" else "text"
    custom = name in CUSTOM
    return {
        "updatedAt": CREATED,
        "createdAt": CREATED,
        "name": name,
        "label": name.replace("_", " ").capitalize(),
        "type": kind_of,
        "fieldType": field,
        "description": "",
        "groupName": GROUPS[kind],
        "options": [],
        "displayOrder": order if custom else -1,
        "calculated": name in CALCULATED,
        "externalOptions": False,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": not custom,
        "modificationMetadata": {
            "archivable": custom,
            "readOnlyDefinition": not custom,
            "readOnlyValue": name in CALCULATED or name == "hs_object_id",
        },
        "formField": custom,
        "archived": False,
    }


def _definitions(store: HubSpotStore, kind: str) -> list[dict[str, Any]]:
    return [_definition(kind, n, i) for i, n in enumerate(sorted(store.schema[kind]))]


def definitions_for(state: SandboxState, name: str) -> list[dict[str, Any]] | None:
    """The property definitions of an object type by any of its names: the portal's own
    for the types it holds records of, HubSpot's basic ones for the other standard objects
    (every portal has contacts, tickets, ... even with no record of them); None for a name
    HubSpot does not know."""
    kind = object_type(name)
    if kind is not None:
        with state.lock:
            return _definitions(state.hubspot, kind)
    standard = STANDARD_WITHOUT_RECORDS.get(name.lower())
    if standard is None:
        return None
    group, names = standard
    return [
        {**_definition("companies", n, i), "groupName": group} for i, n in enumerate(sorted(names))
    ]


async def list_properties(request: Request, state: SandboxState) -> Response:
    results = definitions_for(state, request.path_params["object"])
    if results is None:
        return _unknown_object(request.path_params["object"])
    return json_response({"results": results})


async def get_property(request: Request, state: SandboxState) -> Response:
    name = request.path_params["name"]
    kind = object_type(request.path_params["object"])
    if kind is None:
        return _unknown_object(request.path_params["object"])
    with state.lock:
        found = name in state.hubspot.schema[kind]
        order = sorted(state.hubspot.schema[kind]).index(name) if found else 0
    if not found:
        return error(
            404,
            f"Unable to find property {name} for object type {TYPE_IDS[kind]}",
            "OBJECT_NOT_FOUND",
        )
    return json_response(_definition(kind, name, order))


def _unknown_object(name: str) -> Response:
    return error(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")


async def schemas(request: Request, state: SandboxState) -> Response:
    """Custom object schemas: this portal has none (the standard objects are not listed)."""
    return json_response({"results": []})


async def account_details(request: Request, state: SandboxState) -> Response:
    with state.lock:
        store = state.hubspot
        home, others = (
            store.home_currency,
            [c for c in store.currencies if c != store.home_currency],
        )
    return json_response(
        {
            "portalId": PORTAL_ID,
            "accountType": "STANDARD",
            "timeZone": "US/Eastern",
            "companyCurrency": home,
            "additionalCurrencies": others,
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }
    )


async def company_currency(request: Request, state: SandboxState) -> Response:
    """(unconfirmed shape) The currencies API's company currency."""
    with state.lock:
        home = state.hubspot.home_currency
    return json_response({"currencyCode": home, "createdAt": CREATED, "updatedAt": CREATED})


async def not_found(request: Request) -> Response:
    """(unconfirmed message) A path HubSpot has no API at: its JSON error, not plain text."""
    return error(
        404, f"Unable to route {request.method} request to {request.url.path}", "RESOURCE_NOT_FOUND"
    )
