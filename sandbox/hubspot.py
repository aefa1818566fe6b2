"""HubSpot CRM v3 objects and search, v4 associations, mounted under /hubspot. Object types
are accepted as HubSpot accepts them: plural, singular or type id (`deals`, `deal`, `0-3`)."""

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import hubspot_legacy, hubspot_portal, malformed
from sandbox.hubspot_data import (
    ASSOCIATION_TYPES,
    comparable,
    properties_of,
    render,
)
from sandbox.hubspot_links import associations, create_note
from sandbox.state import SandboxState
from sandbox.timefmt import utcnow
from sandbox.web import (
    RouteTable,
    any_other_path,
    base_url,
    bearer_token,
    decode_cursor,
    encode_cursor,
    json_response,
    query_list,
    read_json,
)

TOKEN = "sandbox"
SEARCH_CAP = 10_000
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


_error = hubspot_portal.error


_invalid = hubspot_portal.invalid


def _guard(request: Request) -> Response | None:
    if bearer_token(request) == TOKEN:
        return None
    return _error(
        401,
        "Authentication credentials not found. This API supports OAuth 2.0 "
        "authentication and you can find more details at "
        "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "INVALID_AUTHENTICATION",
    )


def _shown(
    state: SandboxState, obj: dict[str, Any], kind: str, wanted: list[str]
) -> dict[str, Any]:
    """A record as served: the asked-for properties, a live deal possibly malformed."""
    shown = render(obj, kind, wanted, state.hubspot)
    if kind != "deals" or obj.get("archived"):
        return shown
    return malformed.serve(state, "hubspot", "deal", obj.get("id"), shown)


def _id_order(oid: Any) -> tuple[int, str]:
    text = str(oid)
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def _with_associations(
    state: SandboxState, obj: dict[str, Any], kind: str, wanted: list[str]
) -> dict[str, Any]:
    found = {}
    for name in wanted:
        other = hubspot_portal.object_type(name) or name
        types = ASSOCIATION_TYPES.get((kind, other), [])
        ids = state.hubspot.associated(kind, str(obj.get("id")), other)
        if ids and types:
            found[other] = {
                "results": [{"id": i, "type": name} for i in ids for _, _, name in types]
            }
    return {**obj, "associations": found} if found else obj


def _list(kind: str) -> Any:
    async def list_objects(request: Request, state: SandboxState) -> Response:
        params = request.query_params
        try:
            # (unconfirmed) pages above 100 are cut to 100 rather than refused.
            limit = min(100, max(1, int(params.get("limit", 10))))
            after = _id_order(decode_cursor(params["after"])) if "after" in params else None
        except (ValueError, TypeError):
            return _invalid("Invalid limit or after parameter")
        wanted, links = query_list(request, "properties"), query_list(request, "associations")
        archived = params.get("archived") == "true"
        with state.lock:
            store = state.hubspot.archived if archived else state.hubspot.objects
            objects = sorted(store[kind].values(), key=lambda o: _id_order(o.get("id")))
            later = [o for o in objects if after is None or _id_order(o.get("id")) > after]
            page = [
                _with_associations(state, _shown(state, o, kind, wanted), kind, links)
                for o in later[:limit]
            ]
        body: dict[str, Any] = {"results": page}
        if len(later) > limit:
            token = encode_cursor(str(page[-1].get("id")))
            also = "&archived=true" if archived else ""
            body["paging"] = {
                "next": {
                    "after": token,
                    "link": f"{base_url(request)}/crm/v3/"
                    f"objects/{kind}?limit={limit}&after={token}{also}",
                }
            }
        return json_response(body)

    async def get_object(request: Request, state: SandboxState) -> Response:
        archived = request.query_params.get("archived") == "true"
        with state.lock:
            store = state.hubspot.archived if archived else state.hubspot.objects
            obj = store[kind].get(request.path_params["id"])
            if obj is None:
                return _error(
                    404,
                    "Object not found.  objectId are usually numeric.",
                    "OBJECT_NOT_FOUND",
                    context={"id": [request.path_params["id"]]},
                )
            body = _with_associations(
                state,
                _shown(state, obj, kind, query_list(request, "properties")),
                kind,
                query_list(request, "associations"),
            )
        return json_response(body)

    return list_objects, get_object


def _passes(props: dict[str, Any], oid: str, rule: dict[str, Any], now: datetime) -> bool:
    name, op = rule["propertyName"], rule["operator"]
    actual = comparable(name, oid if name == "hs_object_id" else props.get(name), now)
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return (actual not in (None, "")) == (op == "HAS_PROPERTY")
    if actual is None:
        return op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    if op in ("IN", "NOT_IN"):
        values = [comparable(name, v, now) for v in rule.get("values") or []]
        return (actual in values) == (op == "IN")
    value = comparable(name, rule.get("value"), now)
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return (str(value).strip("*") in str(actual)) == (op == "CONTAINS_TOKEN")
    try:
        if op == "BETWEEN":
            return bool(value <= actual <= comparable(name, rule.get("highValue"), now))
        return bool(
            {
                "EQ": actual == value,
                "NEQ": actual != value,
                "LT": actual < value,
                "LTE": actual <= value,
                "GT": actual > value,
                "GTE": actual >= value,
            }[op]
        )
    except TypeError:
        return False


def _search_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid input JSON: expected an object"
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        return "filterGroups must be a list of at most 5 groups"
    rules = [r for g in groups for r in (g.get("filters") or [] if isinstance(g, dict) else [])]
    if (
        any(len(g.get("filters") or []) > 6 for g in groups if isinstance(g, dict))
        or len(rules) > 18
    ):
        return "At most 6 filters per group and 18 in total are allowed"
    for rule in rules:
        if (
            not isinstance(rule, dict)
            or rule.get("operator") not in OPERATORS
            or not rule.get("propertyName")
        ):
            return f"Invalid filter: {rule!r}"
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list) or len(sorts) > 1:
        return "Only one sort is supported"
    if sorts and not (
        isinstance(sorts[0], str) or (isinstance(sorts[0], dict) and sorts[0].get("propertyName"))
    ):
        return f"Invalid sort: {sorts[0]!r}"
    return None


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _matching(
    objects: dict[str, dict[str, Any]], body: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The objects a search body selects, in the order it asks for."""
    sort = (body.get("sorts") or ["hs_object_id"])[0]
    if isinstance(sort, str):
        sort = {
            "propertyName": sort.lstrip("-"),
            "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING",
        }
    name = str(sort.get("propertyName"))
    groups = [g.get("filters") or [] for g in body.get("filterGroups") or []]
    text = str(body.get("query") or "").lower()

    def sort_value(obj: dict[str, Any]) -> Any:
        value = obj.get("id") if name == "hs_object_id" else properties_of(obj).get(name)
        return comparable(name, value, now)

    present: list[dict[str, Any]] = []
    absent: list[dict[str, Any]] = []
    for oid, obj in sorted(objects.items()):  # ties keep string-id order
        props = properties_of(obj)
        if groups and not any(all(_passes(props, oid, r, now) for r in g) for g in groups):
            continue
        if text and not any(text in str(v).lower() for v in props.values() if v):
            continue
        (absent if sort_value(obj) is None else present).append(obj)
    present.sort(
        key=lambda o: _sort_value(sort_value(o)), reverse=sort.get("direction") == "DESCENDING"
    )
    return present + absent  # records without the sort property come last either way


def _search(kind: str) -> Any:
    async def search(request: Request, state: SandboxState) -> Response:
        ok, body = await read_json(request)
        problem = _search_error(body) if ok else "Invalid input JSON"
        if problem:
            return _invalid(problem)
        try:
            limit, offset = int(body.get("limit", 10)), int(body.get("after") or 0)
        except (TypeError, ValueError):
            return _invalid("limit and after must be integers")
        if not 1 <= limit <= 200:
            return _invalid("limit must be between 1 and 200")
        # Search stops at 10,000 results per query: paging beyond that is refused.
        if offset + limit > SEARCH_CAP:
            return _invalid(
                f"The search API can return at most {SEARCH_CAP} results for a "
                "query; narrow the filters (for example on hs_lastmodifieddate) "
                "instead of paging past it."
            )
        wanted = [str(p) for p in body.get("properties") or []]
        with state.lock:
            # The search index lags behind writes: records written in the last
            # `search_lag_s` seconds are not found yet.
            indexed = {
                oid: obj
                for oid, obj in state.hubspot.objects[kind].items()
                if state.indexed("hubspot", f"{kind}/{oid}")
            }
            found = _matching(indexed, body, utcnow())
            page = [_shown(state, o, kind, wanted) for o in found[offset : offset + limit]]
        result: dict[str, Any] = {"total": len(found), "results": page}
        if offset + limit < len(found):
            # The documented answer carries a relative link beside the offset.
            after = str(offset + limit)
            result["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return json_response(result)

    return search


Handler = Any


def _by_type(handlers: dict[str, Handler], *names: str) -> Handler:
    """One route for every name of an object type: the path's `{names}` resolved to the
    canonical type, whose handler answers; notes need the notes scopes."""

    async def dispatch(request: Request, state: SandboxState) -> Response:
        kinds = [hubspot_portal.object_type(request.path_params[n]) for n in names]
        handler = handlers.get("/".join(k or "?" for k in kinds))
        if handler is None:
            return await hubspot_portal.not_found(request)
        refused = hubspot_portal.notes_refused(state, *(k or "" for k in kinds))
        return refused or await handler(request, state)

    return dispatch


def routes() -> list[BaseRoute]:
    table = RouteTable("hubspot", _guard)
    add = table.add

    lists, searches, gets = {}, {}, {}
    for kind in ("deals", "companies", "notes"):
        lists[kind], gets[kind] = _list(kind)
        searches[kind] = _search(kind)
    ones, batches = {}, {}
    for source, other in ASSOCIATION_TYPES:
        ones[f"{source}/{other}"], batches[f"{source}/{other}"] = associations(source, other)
    add("POST", "/crm/v3/objects/{object}", _by_type({"notes": create_note}, "object"))
    add("GET", "/crm/v3/objects/{object}", _by_type(lists, "object"))
    add("POST", "/crm/v3/objects/{object}/search", _by_type(searches, "object"), read=True)
    add("GET", "/crm/v3/objects/{object}/{id}", _by_type(gets, "object"))
    add("GET", "/crm/v4/objects/{object}/{id}/associations/{to}", _by_type(ones, "object", "to"))
    add(
        "POST",
        "/crm/v4/associations/{object}/{to}/batch/read",
        _by_type(batches, "object", "to"),
        read=True,
    )
    add("GET", "/crm/v3/properties/{object}", hubspot_portal.list_properties)
    add("GET", "/crm/v3/properties/{object}/{name}", hubspot_portal.get_property)
    add("GET", "/crm/v3/schemas", hubspot_portal.schemas)
    # The Schemas API's documented path; /crm/v3/schemas answers the same.
    add("GET", "/crm-object-schemas/v3/schemas", hubspot_portal.schemas)
    add("GET", "/account-info/v3/details", hubspot_portal.account_details)
    add("GET", "/settings/v3/currencies/company-currency", hubspot_portal.company_currency)
    for path, handler in hubspot_legacy.routes():
        add("GET", path, handler)
    return [*table.routes, any_other_path(hubspot_portal.not_found)]
