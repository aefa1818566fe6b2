"""HubSpot's legacy APIs, which HubSpot still documents (API reference, "Legacy") and
long-lived connectors still call, served from the same portal as CRM v3:

- the Properties API v1/v2 (`/properties/v2/{object}/properties`,
  `/properties/v1/{object}/properties`, `/companies/v2/properties`): a JSON array of
  property definitions (the v3 definitions with the legacy keys);
- Companies v2 (`/companies/v2/companies/paged`, `/companies/v2/companies/{id}`) and
  Deals v1 (`/deals/v1/deal/paged`, `/deals/v1/deal/{id}`): records as `companyId`/`dealId`
  with `properties` of `{value, timestamp, source, sourceId, versions}`, dates as epoch
  milliseconds, unset properties left out; pages of `limit` (at most 250, default 100)
  after `offset`, with `has-more` (companies) or `hasMore` (deals) and the next `offset`.
  Companies list only the properties asked for (`properties=`, repeatable); deals too,
  or all of them with `includeAllProperties=true`;
- Engagements v1 (`/engagements/v1/engagements/paged`, `/engagements/v1/engagements/
  modified/after`): the portal's notes as `{engagement, associations, attachments,
  metadata}`; paged by `offset` (`hasMore`, `offset`), or after a Unix time in
  milliseconds or a returned cursor (`after`, `hasMore`). Engagements need the contacts
  scope, as notes do.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox import hubspot_portal
from sandbox.hubspot_data import DATES, properties_of, to_time
from sandbox.state import SandboxState
from sandbox.timefmt import epoch_ms, utcnow
from sandbox.web import decode_cursor, encode_cursor, json_response, query_list

LEGACY_MAX, LEGACY_DEFAULT, AFTER_MAX = 250, 100, 1000


def _v2_definition(v3: dict[str, Any]) -> dict[str, Any]:
    """A v3 property definition with the keys the legacy Properties API answers."""
    meta = v3.get("modificationMetadata", {})
    return {
        "name": v3["name"],
        "label": v3["label"],
        "description": v3["description"],
        "groupName": v3["groupName"],
        "type": v3["type"],
        "fieldType": "booleancheckbox" if v3["type"] == "bool" else v3["fieldType"],
        "options": v3["options"],
        "displayOrder": v3["displayOrder"],
        "calculated": v3["calculated"],
        "externalOptions": v3["externalOptions"],
        "hasUniqueValue": v3["hasUniqueValue"],
        "hidden": v3["hidden"],
        "hubspotDefined": v3["hubspotDefined"],
        "formField": v3["formField"],
        "readOnlyValue": meta.get("readOnlyValue", False),
        "readOnlyDefinition": meta.get("readOnlyDefinition", False),
        "mutableDefinitionNotDeletable": not meta.get("archivable", True),
        "favorited": False,
        "favoritedOrder": -1,
        "displayMode": "current_value",
        "showCurrencySymbol": v3["name"].startswith("amount"),
        "createdAt": None,
        "updatedAt": None,
        "createdUserId": None,
        "updatedUserId": None,
        "deleted": False,
        "searchableInGlobalSearch": False,
        "textDisplayHint": None,
        "numberDisplayHint": None,
        "optionsAreMutable": None,
        "referencedObjectType": None,
        "calculationFormula": None,
        "isCustomizedDefault": False,
        "currencyPropertyName": None,
    }


async def legacy_properties(request: Request, state: SandboxState) -> Response:
    """`/properties/v{1,2}/{object}/properties` (and `/companies/v2/properties`): an array."""
    name = request.path_params.get("object", "companies")
    definitions = hubspot_portal.definitions_for(state, name)
    if definitions is None:
        return hubspot_portal.error(404, f"Unknown object type: {name}", "OBJECT_NOT_FOUND")
    return json_response([_v2_definition(d) for d in definitions])


def _numeric(oid: Any) -> Any:
    text = str(oid)
    return int(text) if text.isdigit() else text


def _value(name: str, value: Any, now: Any) -> str:
    if name in DATES and value not in (None, ""):
        return str(epoch_ms(to_time(value, now)))
    return str(value)


def _legacy_properties(obj: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    """Each set property as `{value, timestamp, source, sourceId, versions}`."""
    now = utcnow()
    props = properties_of(obj)
    stamp = epoch_ms(to_time(obj.get("updatedAt") or props.get("hs_lastmodifieddate"), now))
    shown: dict[str, Any] = {}
    for name, value in props.items():
        if value is None or (wanted is not None and name not in wanted):
            continue
        text = _value(name, value, now)
        version = {"name": name, "value": text, "timestamp": stamp, "source": "API"}
        version.update({"sourceVid": [], "requestId": None})
        shown[name] = {
            "value": text,
            "timestamp": stamp,
            "source": "API",
            "sourceId": None,
            "versions": [version],
        }
    return shown


def _ordered(state: SandboxState, kind: str) -> list[dict[str, Any]]:
    objects = state.hubspot.objects[kind].values()
    return sorted(objects, key=lambda o: (not str(o["id"]).isdigit(), _numeric(o["id"])))


def _page_params(request: Request, cap: int) -> tuple[int, int] | None:
    try:
        limit = int(request.query_params.get("limit", LEGACY_DEFAULT))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        return None
    return max(1, min(cap, limit)), offset


def _company(state: SandboxState, obj: dict[str, Any], wanted: list[str] | None) -> dict:
    return {
        "portalId": hubspot_portal.PORTAL_ID,
        "companyId": _numeric(obj["id"]),
        "isDeleted": False,
        "properties": _legacy_properties(obj, wanted),
        "additionalDomains": [],
        "stateChanges": [],
        "mergeAudits": [],
    }


def _deal(state: SandboxState, obj: dict[str, Any], wanted: list[str] | None, links: bool):
    deal = {
        "portalId": hubspot_portal.PORTAL_ID,
        "dealId": _numeric(obj["id"]),
        "isDeleted": False,
        "properties": _legacy_properties(obj, wanted),
        "imports": [],
        "stateChanges": [],
    }
    if links:
        companies = state.hubspot.associated("deals", str(obj["id"]), "companies")
        deal["associations"] = {
            "associatedVids": [],
            "associatedCompanyIds": [_numeric(c) for c in companies],
            "associatedDealIds": [],
            "associatedTicketIds": [],
        }
    return deal


def _paged(kind: str, key: str, more: str) -> Any:
    async def paged(request: Request, state: SandboxState) -> Response:
        page = _page_params(request, LEGACY_MAX)
        if page is None:
            return hubspot_portal.error(400, "Invalid limit or offset", "VALIDATION_ERROR")
        limit, offset = page
        params = request.query_params
        every = kind == "deals" and params.get("includeAllProperties") == "true"
        wanted = None if every else query_list(request, "properties")
        links = params.get("includeAssociations") == "true"
        with state.lock:
            later = [
                o
                for o in _ordered(state, kind)
                if not str(o["id"]).isdigit() or int(o["id"]) > offset
            ]
            shown = [
                _deal(state, o, wanted, links) if kind == "deals" else _company(state, o, wanted)
                for o in later[:limit]
            ]
        last = shown[-1][key] if shown else offset
        return json_response(
            {
                kind: shown,
                more: len(later) > limit,
                "offset": last if isinstance(last, int) else offset,
            }
        )

    return paged


def _one(kind: str) -> Any:
    async def one(request: Request, state: SandboxState) -> Response:
        with state.lock:
            obj = state.hubspot.objects[kind].get(request.path_params["id"])
            if obj is None:
                return hubspot_portal.error(404, f"{kind[:-1]} does not exist", "OBJECT_NOT_FOUND")
            body = _deal(state, obj, None, True) if kind == "deals" else _company(state, obj, None)
        return json_response(body)

    return one


def _engagement(state: SandboxState, note: dict[str, Any]) -> dict[str, Any]:
    now, props = utcnow(), properties_of(note)
    created = epoch_ms(to_time(props.get("hs_createdate") or note.get("createdAt"), now))
    updated = epoch_ms(to_time(props.get("hs_lastmodifieddate") or note.get("updatedAt"), now))
    when = props.get("hs_timestamp")
    owner = props.get("hubspot_owner_id")
    nid = str(note["id"])
    return {
        "engagement": {
            "id": _numeric(nid),
            "portalId": hubspot_portal.PORTAL_ID,
            "active": True,
            "createdAt": created,
            "lastUpdated": updated,
            "ownerId": _numeric(owner) if owner else None,
            "type": "NOTE",
            "timestamp": epoch_ms(to_time(when, now)) if when else created,
            "bodyPreview": props.get("hs_note_body"),
        },
        "associations": {
            "contactIds": [],
            "companyIds": [
                _numeric(c) for c in state.hubspot.associated("notes", nid, "companies")
            ],
            "dealIds": [_numeric(d) for d in state.hubspot.associated("notes", nid, "deals")],
            "ownerIds": [],
            "workflowIds": [],
            "ticketIds": [],
        },
        "attachments": [],
        "metadata": {"body": props.get("hs_note_body")},
    }


def _notes_by_change(state: SandboxState) -> list[tuple[tuple[int, int], dict[str, Any]]]:
    now = utcnow()
    rows = []
    for note in state.hubspot.objects["notes"].values():
        changed = properties_of(note).get("hs_lastmodifieddate") or note.get("updatedAt")
        rows.append(((epoch_ms(to_time(changed, now)), _numeric(note["id"])), note))
    return sorted(rows, key=lambda pair: (pair[0][0], str(pair[0][1]).zfill(20)))


async def engagements_paged(request: Request, state: SandboxState) -> Response:
    refused = hubspot_portal.notes_refused(state, "notes")
    page = _page_params(request, LEGACY_MAX)
    if refused is not None or page is None:
        return refused or hubspot_portal.error(400, "Invalid limit or offset", "VALIDATION_ERROR")
    limit, offset = page
    with state.lock:
        later = [n for n in _ordered(state, "notes") if _numeric(n["id"]) > offset]
        shown = [_engagement(state, n) for n in later[:limit]]
    last = shown[-1]["engagement"]["id"] if shown else offset
    return json_response({"results": shown, "hasMore": len(later) > limit, "offset": last})


async def engagements_modified_after(request: Request, state: SandboxState) -> Response:
    """(unconfirmed beyond `results`, `hasMore` and `after`) Notes changed after `after`: a
    Unix time in milliseconds, or the cursor a previous page returned."""
    refused = hubspot_portal.notes_refused(state, "notes")
    if refused is not None:
        return refused
    raw = request.query_params.get("after", "0")
    try:
        limit = max(1, min(AFTER_MAX, int(request.query_params.get("limit", LEGACY_DEFAULT))))
        position = (int(raw), 1 << 62) if raw.isdigit() else tuple(decode_cursor(raw))
    except (ValueError, TypeError):
        return hubspot_portal.error(400, "Invalid after or limit", "VALIDATION_ERROR")
    with state.lock:
        rows = _notes_by_change(state)
        later = [
            (key, note)
            for key, note in rows
            if (key[0], str(key[1]).zfill(20)) > (position[0], str(position[1]).zfill(20))
        ]
        page = later[:limit]
        shown = [_engagement(state, note) for _, note in page]
    last = list(page[-1][0]) if page else list(position)
    return json_response(
        {"results": shown, "hasMore": len(later) > limit, "after": encode_cursor(last)}
    )


def routes() -> list[tuple[str, Any]]:
    """(path, handler) for GET; sandbox.hubspot mounts them with its token check."""
    return [
        ("/properties/v2/{object}/properties", legacy_properties),
        ("/properties/v1/{object}/properties", legacy_properties),
        ("/companies/v2/properties", legacy_properties),
        ("/companies/v2/companies/paged", _paged("companies", "companyId", "has-more")),
        ("/companies/v2/companies/{id}", _one("companies")),
        ("/deals/v1/deal/paged", _paged("deals", "dealId", "hasMore")),
        ("/deals/v1/deal/{id}", _one("deals")),
        ("/engagements/v1/engagements/paged", engagements_paged),
        ("/engagements/v1/engagements/modified/after", engagements_modified_after),
    ]
