"""`POST /contacts/search`: Intercom's contact search, the subset clients use.

Strings (`id`, `email`, `external_id`, `role`, `name`) take `=`, `!=`, `IN`, `NIN`; dates
(unix seconds: `created_at`, `updated_at`, `signed_up_at`, `last_seen_at`, ...) take `=`,
`!=`, `>` and `<` (no `>=`); AND/OR groups nest at most two deep with 1 to 15 filters.
Results come in id order with `starting_after`; like every Intercom search the index lags
behind writes.
"""

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.intercom_errors import error
from sandbox.state import SandboxState
from sandbox.web import decode_cursor, encode_cursor, json_response, read_json

SEARCH_MAX = 150
STRINGS = {"id", "email", "external_id", "role", "name"}
DATES = {
    "created_at",
    "updated_at",
    "signed_up_at",
    "last_seen_at",
    "last_contacted_at",
    "last_replied_at",
    "last_email_opened_at",
    "last_email_clicked_at",
}
OPERATORS = {"string": {"=", "!=", "IN", "NIN"}, "date": {"=", "!=", ">", "<"}}


def _kind(field: Any) -> str | None:
    return "string" if field in STRINGS else "date" if field in DATES else None


def problem(query: Any, depth: int = 0) -> str | None:
    """What is wrong with a contacts search query, or None."""
    if not isinstance(query, dict):
        return "query must be an object"
    if query.get("operator") in ("AND", "OR"):
        entries = query.get("value")
        if depth >= 2 or not isinstance(entries, list) or not 1 <= len(entries) <= 15:
            return "AND/OR groups take 1 to 15 filters and nest at most 2 levels"
        return next((p for p in (problem(e, depth + 1) for e in entries) if p), None)
    kind = _kind(query.get("field"))
    if kind is None or query.get("operator") not in OPERATORS[kind]:
        return f"unsupported filter {query!r}"
    value = query.get("value")
    if kind == "date":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return f"{query['field']} takes a unix timestamp"
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            return f"{query['field']} takes a unix timestamp"
        return None
    listed = query["operator"] in ("IN", "NIN")
    if listed != isinstance(value, list) or (listed and not value):
        return (
            f"{query['operator']} on {query['field']} takes {'an array' if listed else 'a value'}"
        )
    return None


def matches(contact: dict[str, Any], query: dict[str, Any]) -> bool:
    if query.get("operator") in ("AND", "OR"):
        found = [matches(contact, q) for q in query["value"]]
        return all(found) if query["operator"] == "AND" else any(found)
    operator, value = query["operator"], query["value"]
    if _kind(query["field"]) == "date":
        stamp = contact.get(query["field"])
        if not isinstance(stamp, int):
            return operator == "!="  # never set: matches no range
        wanted = int(value)
        return {
            "=": stamp == wanted,
            "!=": stamp != wanted,
            # (unconfirmed) strict, as the conversation search here; Intercom's operator
            # table calls them "greater (or equal)" and "lower (or equal)".
            ">": stamp > wanted,
            "<": stamp < wanted,
        }[operator]
    actual = str(contact.get(query["field"]) or "").lower()
    wanted_set = (
        {str(v).lower() for v in value} if isinstance(value, list) else {str(value).lower()}
    )
    return (actual in wanted_set) == (operator in ("=", "IN"))


async def search_contacts(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict) or "query" not in body:
        return error(400, "parameter_not_found", "query is required")
    paging = body.get("pagination") or {}
    wrong = problem(body["query"])
    try:
        per_page = int(paging.get("per_page", 50)) if isinstance(paging, dict) else 0
        after = str(decode_cursor(paging["starting_after"])) if paging.get("starting_after") else ""
    except (TypeError, ValueError):
        wrong = wrong or "pagination is invalid"
        per_page = 0
    if wrong or not 1 <= per_page <= SEARCH_MAX:
        return error(400, "parameter_invalid", wrong or f"per_page is 1 to {SEARCH_MAX}")
    with state.lock:
        found = sorted(
            (
                c
                for c in state.intercom.contacts.values()
                if state.indexed("intercom", c.get("id")) and matches(c, body["query"])
            ),
            key=lambda c: str(c.get("id")),
        )
    later = [c for c in found if str(c.get("id")) > after]
    chunk = later[:per_page]
    pages: dict[str, Any] = {
        "type": "pages",
        "page": 1 + (len(found) - len(later)) // per_page,
        "per_page": per_page,
        "total_pages": math.ceil(len(found) / per_page),
    }
    if len(later) > per_page:
        pages["next"] = {
            "page": pages["page"] + 1,
            "starting_after": encode_cursor(str(chunk[-1]["id"])),
        }
    return json_response({"type": "list", "data": chunk, "total_count": len(found), "pages": pages})
