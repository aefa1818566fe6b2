"""Intercom REST API (2.x), mounted under /intercom (the role of https://api.intercom.io)."""

import json
import math
import uuid
import zlib
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import intercom_pages, intercom_tenant, intercom_workspace, malformed
from sandbox.intercom_contacts import search_contacts
from sandbox.intercom_data import ADMIN_ID, APP_ID, unix
from sandbox.intercom_errors import error as _error
from sandbox.intercom_errors import not_found as _not_found
from sandbox.intercom_search import QueryError, matches, validate
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
    read_json,
)

TOKEN = "sandbox"
SEARCH_PAGE, SEARCH_MAX = 20, 150
COMPANY_PAGE, COMPANY_MAX, COMPANY_CAP, SCROLL_PAGE = 15, 60, 10_000, 50


def _guard(request: Request) -> Response | None:
    state: SandboxState = request.app.state.sandbox
    with state.lock:  # the tenant's variations, made once per loaded world
        intercom_tenant.apply(state.intercom, state.tenant)
    if bearer_token(request) == TOKEN:
        return None
    return _error(401, "unauthorized", "Access Token Invalid")


async def unknown_route(request: Request) -> Response:
    """Any other path: Intercom's JSON error list, never a plain-text page."""
    return _not_found()


def _served(state: SandboxState, conversation: dict[str, Any]) -> dict[str, Any]:
    cid = conversation.get("id")
    return malformed.serve(state, "intercom", "conversation", cid, conversation)


def _position(conversation: dict[str, Any], now: int, field: str, descending: bool) -> list[Any]:
    """Search order: the sort field, then id; an unreadable (injected) date sorts as now."""
    stamp = conversation.get(field)
    stamp = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else now
    cid = str(conversation.get("id"))
    number = int(cid) if cid.isdigit() else 0
    return [-stamp, -number, cid] if descending else [stamp, number, cid]


def _sort(body: dict[str, Any]) -> tuple[str, bool]:
    """(field, descending) of the body's `sort`. (unconfirmed) Intercom's reference does not
    list `sort` for conversations; without one the sandbox answers oldest update first."""
    sort = body.get("sort")
    if sort is None:
        return "updated_at", False
    if (
        not isinstance(sort, dict)
        or sort.get("field") not in ("created_at", "updated_at")
        or sort.get("order", "ascending") not in ("ascending", "descending")
    ):
        raise QueryError("sort takes a field (created_at, updated_at) and ascending/descending")
    return str(sort["field"]), sort.get("order") == "descending"


async def search(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict) or "query" not in body:
        return _error(400, "parameter_not_found", "query is required")
    paging = body.get("pagination") or {}
    try:
        validate(body["query"])
        field, descending = _sort(body)
        per_page = int(paging.get("per_page", SEARCH_PAGE)) if isinstance(paging, dict) else 0
        if not 1 <= per_page <= SEARCH_MAX:
            raise QueryError(f"per_page must be between 1 and {SEARCH_MAX}")
    except (QueryError, TypeError, ValueError) as exc:
        return _error(400, "parameter_invalid", str(exc))
    fingerprint = zlib.crc32(
        json.dumps([body["query"], field, descending], sort_keys=True).encode()
    )
    after, page = None, 1
    if paging.get("starting_after"):
        try:
            cursor = decode_cursor(str(paging["starting_after"]))
            if cursor["q"] != fingerprint:
                raise ValueError("cursor of another query")
            after, page = cursor["after"], int(cursor["page"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "parameter_invalid", "starting_after is invalid")
    now = unix(utcnow())
    with state.lock:
        found = sorted(
            (
                (_position(c, now, field, descending), c)
                for c in state.intercom.conversations.values()
                if state.indexed("intercom", c.get("id")) and matches(c, body["query"])
            ),
            key=lambda pair: pair[0],
        )
        total = len(found)
        later = [pair for pair in found if after is None or pair[0] > after]
        chunk = later[:per_page]
        conversations = [_served(state, c) for _, c in chunk]
    pages: dict[str, Any] = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(total / per_page),
    }
    if len(later) > per_page:
        token = encode_cursor({"q": fingerprint, "after": chunk[-1][0], "page": page + 1})
        pages["next"] = {"page": page + 1, "starting_after": token}
    return json_response(
        {
            "type": "conversation.list",
            "conversations": conversations,
            "total_count": total,
            "pages": pages,
        }
    )


def _with_parts(state: SandboxState, conversation: dict[str, Any]) -> dict[str, Any]:
    parts = state.intercom.parts.get(str(conversation.get("id")), [])
    return {
        **_served(state, conversation),
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": len(parts),
        },
    }


async def conversation(request: Request, state: SandboxState) -> Response:
    cid = request.path_params["id"]
    with state.lock:
        found = state.intercom.conversations.get(cid)
        if found is None:
            return _not_found()
        if request.method == "DELETE":
            del state.intercom.conversations[cid]
            return json_response({"id": cid, "object": "conversation", "deleted": True})
        return json_response(_with_parts(state, found))


async def reply(request: Request, state: SandboxState) -> Response:
    """An admin's reply or internal note; a note is seen by teammates only."""
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict):
        return _error(400, "parameter_invalid", "Invalid JSON body")
    if body.get("message_type") not in ("comment", "note", "quick_reply"):
        return _error(400, "parameter_invalid", "message_type must be comment, note or quick_reply")
    if body.get("type") != "admin":
        return _error(400, "parameter_invalid", "Only admin replies are supported here")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "parameter_not_found", "body is required")
    now = utcnow()
    with state.lock:
        found = state.intercom.conversations.get(request.path_params["id"])
        if found is None:
            return _not_found()
        author = state.intercom.admins.get(str(body.get("admin_id")))
        if author is None:
            return _error(404, "admin_not_found", "Admin not found")
        part = {
            "type": "conversation_part",
            "id": state.intercom.new_id(),
            "part_type": body["message_type"],
            "body": text,
            "created_at": unix(now),
            "updated_at": unix(now),
            "notified_at": unix(now),
            "assigned_to": None,
            "author": {k: author[k] for k in ("type", "id", "name", "email")},
            "attachments": [],
            "external_id": None,
            "redacted": False,
        }
        state.intercom.parts.setdefault(str(found.get("id")), []).append(part)
        found["updated_at"] = unix(now)
        state.touch("intercom", found.get("id"))
        return json_response(_with_parts(state, found))


async def me(request: Request, state: SandboxState) -> Response:
    with state.lock:
        admin = dict(state.intercom.admins[ADMIN_ID])
    admin.pop("away_mode_enabled", None)  # `/me` is the admin with its app, as documented
    admin.pop("away_mode_reassign", None)
    admin.pop("team_ids", None)
    admin["app"] = {
        "type": "app",
        "id_code": APP_ID,
        "name": "Acme Analytics",
        "created_at": 1_600_000_000,
        "secure": False,
        "identity_verification": False,
        "timezone": "Europe/London",
        "region": "US",
    }
    return json_response(admin)


def _company_order(company: dict[str, Any]) -> tuple[int, str]:
    stamp = company.get("last_request_at")
    return (stamp if isinstance(stamp, int) else 0, str(company.get("id")))


async def list_companies(request: Request, state: SandboxState) -> Response:
    params = request.query_params
    with state.lock:
        companies = list(state.intercom.companies.values())
    if "company_id" in params or "name" in params:  # retrieve one by the customer's id or name
        key, wanted = (
            ("company_id", params["company_id"])
            if "company_id" in params
            else (
                "name",
                params["name"],
            )
        )
        match = next((c for c in companies if c.get(key) == wanted), None)
        return json_response(match) if match else _not_found()
    try:
        page = int(params.get("page", 1))
        per_page = int(params.get("per_page", COMPANY_PAGE))
    except ValueError:
        return _error(400, "parameter_invalid", "page and per_page must be integers")
    if not 1 <= per_page <= COMPANY_MAX or page < 1:
        return _error(400, "parameter_invalid", f"per_page must be between 1 and {COMPANY_MAX}")
    if params.get("order", "desc") not in ("asc", "desc"):
        return _error(400, "parameter_invalid", "order must be asc or desc")
    # Paging reaches at most 10,000 companies; the scroll API goes further.
    if page * per_page > COMPANY_CAP:
        return _error(400, "bad_request", "Cannot page past 10,000 companies: use the scroll API")
    companies.sort(key=_company_order, reverse=params.get("order", "desc") == "desc")
    total_pages = math.ceil(len(companies) / per_page)
    pages: dict[str, Any] = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": total_pages,
    }
    if page < total_pages:
        keep = {k: params[k] for k in ("order",) if k in params}
        query = urlencode({**keep, "per_page": per_page, "page": page + 1})
        pages["next"] = f"{base_url(request)}/companies?{query}"
    return json_response(
        {
            "type": "list",
            "data": companies[(page - 1) * per_page : page * per_page],
            "pages": pages,
            "total_count": len(companies),
        }
    )


async def scroll_companies(request: Request, state: SandboxState) -> Response:
    """The scroll API: a call without `scroll_param` opens a scroll; each call with the
    param it returned (the same one throughout) serves the next 50 companies in id order,
    then an empty `data`, which closes the scroll: the param is then unknown (404), as is
    one that was never issued. (Intercom also expires an idle scroll after a minute.)"""
    param = request.query_params.get("scroll_param")
    with state.lock:
        scrolls = state.intercom.scrolls
        if param and param not in scrolls:
            return _error(404, "not_found", "scroll parameter not found or expired")
        if not param:
            param = uuid.uuid4().hex
            scrolls[param] = ""
        after = scrolls[param]
        ordered = sorted(state.intercom.companies.values(), key=lambda c: str(c.get("id")))
        page = [c for c in ordered if str(c.get("id")) > after][:SCROLL_PAGE]
        if page:
            scrolls[param] = str(page[-1].get("id"))
        else:
            del scrolls[param]
    return json_response(
        {"type": "list", "data": page, "pages": None, "total_count": None, "scroll_param": param}
    )


def _getter(kind: str) -> Any:
    async def show(request: Request, state: SandboxState) -> Response:
        with state.lock:
            found = getattr(state.intercom, kind).get(request.path_params["id"])
        return json_response(found) if found is not None else _not_found()

    return show


async def list_tags(request: Request, state: SandboxState) -> Response:
    """GET /tags: every tag of the workspace (no paging)."""
    with state.lock:
        tags = sorted(state.intercom.tags.values(), key=lambda t: str(t["id"]))
    return json_response({"type": "list", "data": tags})


def routes() -> list[BaseRoute]:
    table = RouteTable("intercom", _guard)
    add = table.add

    add("POST", "/conversations/search", search, read=True)
    add("GET", "/conversations/{id}", conversation)
    add("DELETE", "/conversations/{id}", conversation)
    add("POST", "/conversations/{id}/reply", reply)
    add("GET", "/companies", list_companies)
    add("GET", "/companies/scroll", scroll_companies)
    add("GET", "/companies/{id}", _getter("companies"))
    add("POST", "/contacts/search", search_contacts, read=True)
    add("GET", "/contacts/{id}", _getter("contacts"))
    add("GET", "/me", me)
    add("GET", "/tags", list_tags)
    add("GET", "/admins", intercom_workspace.list_admins)
    add("GET", "/admins/{id}", intercom_workspace.show_admin)
    add("GET", "/teams", intercom_workspace.list_teams)
    add("GET", "/segments", intercom_workspace.list_segments)
    add("GET", "/data_attributes", intercom_workspace.list_data_attributes)
    return [*table.routes, *intercom_pages.routes(), any_other_path(unknown_route)]
