"""Freshdesk API v2, mounted under /freshdesk (the role of https://yourdomain.freshdesk.com)."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import freshdesk_pages, freshdesk_tenant, malformed
from sandbox.freshdesk_data import API_AGENT_ID, fd_time, note
from sandbox.state import SandboxState
from sandbox.timefmt import order_time, parse_time, utcnow
from sandbox.web import (
    any_other_path,
    base_url,
    basic_credentials,
    endpoint,
    json_response,
    read_json,
)

API_KEY = "sandbox"
PAGE, MAX_PAGE_SIZE, MAX_PAGE = 30, 100, 300
ORDER_BY = ("created_at", "due_by", "updated_at", "status")
FILTERS = ("new_and_my_open", "watching", "spam", "deleted")
INCLUDES = ("requester", "stats", "company", "description")
TICKET_PARAMS = {
    "updated_since",
    "order_by",
    "order_type",
    "per_page",
    "page",
    "include",
    "filter",
    "requester_id",
    "company_id",
    "email",
}


def _invalid(field: str, message: str, code: str = "invalid_value") -> Response:
    return json_response(
        {
            "description": "Validation failed",
            "errors": [{"field": field, "message": message, "code": code}],
        },
        400,
    )


def _not_found() -> Response:
    return Response(status_code=404)  # (unconfirmed) Freshdesk's 404s carry no body


def _guard(request: Request) -> Response | None:
    state: SandboxState = request.app.state.sandbox
    with state.lock:  # the tenant's variations, made once per loaded world
        freshdesk_tenant.apply(state.freshdesk, state.tenant)
    # The API key is the user name; Freshdesk ignores the password (by convention "X").
    credentials = basic_credentials(request)
    if credentials and credentials[0] == API_KEY:
        return None
    return json_response(
        {
            "code": "invalid_credentials",
            "message": "You have to be logged in to perform this action.",
        },
        401,
    )


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> Response | None:
    if value in allowed:
        return None
    return _invalid(name, f"It should be one of these values: '{','.join(allowed)}'")


def _paging(request: Request, cap: int | None) -> tuple[int, int] | Response:
    params = request.query_params
    size, page = params.get("per_page", str(PAGE)), params.get("page", "1")
    if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
        return _invalid(
            "per_page", f"It should be a Positive Integer less than or equal to {MAX_PAGE_SIZE}"
        )
    if not page.isdigit() or int(page) < 1:
        return _invalid("page", "It should be a Positive Integer")
    if cap and int(page) > cap:
        return _invalid(
            "page",
            f"You cannot access tickets beyond the {cap}th page. "
            "Please provide a smaller page number.",
        )
    return int(size), int(page)


def _page_response(
    request: Request, items: list[Any], size: int, page: int, path: str, show: Any = None
) -> Response:
    """One page, with `Link: <...>; rel="next"` while more records follow (none on the last).
    `show` renders the records of the page (only those)."""
    chunk = items[(page - 1) * size : page * size]
    chunk = [show(item) for item in chunk] if show else chunk
    headers = {}
    if page * size < len(items):
        query = urlencode({**request.query_params, "per_page": size, "page": page + 1})
        headers["Link"] = f'<{base_url(request)}{path}?{query}>; rel="next"'
    return json_response(chunk, headers=headers)


def _render(state: SandboxState, ticket: dict[str, Any], include: set[str]) -> dict[str, Any]:
    shown = dict(ticket)
    if "description" not in include:
        # Accounts made after 2018-11-30 list tickets without their description.
        shown.pop("description", None)
        shown.pop("description_text", None)
    if "requester" in include:
        person = state.freshdesk.contacts.get(ticket.get("requester_id")) or {}
        shown["requester"] = {k: person.get(k) for k in ("id", "name", "email", "mobile", "phone")}
    if "company" in include:
        company = state.freshdesk.companies.get(ticket.get("company_id"))
        shown["company"] = {"id": company["id"], "name": company["name"]} if company else {}
    if "stats" in include:
        shown["stats"] = {
            "agent_responded_at": None,
            "requester_responded_at": None,
            "first_responded_at": None,
            "status_updated_at": ticket.get("updated_at"),
            "reopened_at": None,
            "resolved_at": None,
            "closed_at": None,
            "pending_since": None,
        }
    if ticket.get("deleted"):
        return shown
    return malformed.serve(state, "freshdesk", "ticket", ticket.get("id"), shown)


async def list_tickets(request: Request, state: SandboxState) -> Response:
    params = request.query_params
    for name in params:
        if name not in TICKET_PARAMS:
            return _invalid(name, "Unexpected/invalid field in request", "invalid_field")
    paging = _paging(request, MAX_PAGE)
    if isinstance(paging, Response):
        return paging
    include = {p.strip() for p in params.get("include", "").split(",") if p.strip()}
    problem = next((_one_of("include", i, INCLUDES) for i in include if i not in INCLUDES), None)
    problem = problem or _one_of("order_by", params.get("order_by", "created_at"), ORDER_BY)
    problem = problem or _one_of("order_type", params.get("order_type", "desc"), ("asc", "desc"))
    if "filter" in params:
        problem = problem or _one_of("filter", params["filter"], FILTERS)
    since = parse_time(params["updated_since"]) if "updated_since" in params else None
    if "updated_since" in params and since is None:
        problem = problem or _invalid(
            "updated_since", "It should be in the 'valid date time' format"
        )
    if problem:
        return problem
    now, view = utcnow(), params.get("filter")
    order_by = params.get("order_by", "created_at")
    with state.lock:
        tickets = [
            t
            for t in state.freshdesk.tickets.values()
            # Deleted and spam tickets only show under their own filter.
            if bool(t.get("deleted")) == (view == "deleted")
            and bool(t.get("spam")) == (view == "spam")
            and (
                # (unconfirmed) updated_since is an inclusive bound, like Zendesk's start_time.
                order_time(t.get("updated_at"), now) >= since
                if since
                # Without updated_since, only tickets created in the last 30 days are listed.
                else order_time(t.get("created_at"), now) >= now - timedelta(days=30)
            )
            and all(
                str(t.get(k)) == params[k] for k in ("requester_id", "company_id") if k in params
            )
        ]

        def key(t: dict[str, Any]) -> tuple[Any, int]:
            value, tid = t.get(order_by), t.get("id")
            rank = value if order_by == "status" else order_time(value, now)
            return rank, tid if isinstance(tid, int) else 0

        tickets.sort(key=key, reverse=params.get("order_type", "desc") == "desc")
        return _page_response(
            request, tickets, *paging, "/api/v2/tickets", lambda t: _render(state, t, include)
        )


async def ticket(request: Request, state: SandboxState) -> Response:
    include = {p.strip() for p in request.query_params.get("include", "").split(",")}
    now = utcnow()
    with state.lock:
        found = state.freshdesk.tickets.get(request.path_params["id"])
        if found is None:
            return _not_found()
        if request.method == "DELETE":  # to the trash: listed under filter=deleted
            found.update(deleted=True, updated_at=fd_time(now))
            return Response(status_code=204)
        if request.method == "PUT":  # .../restore
            found.pop("deleted", None)
            found["updated_at"] = fd_time(now)
            return Response(status_code=204)
        body = {**_render(state, found, include | {"description"}), "attachments": []}
        if "conversations" in include:
            body["conversations"] = list(state.freshdesk.conversations.get(found["id"], []))
    return json_response(body)


async def agent_me(request: Request, state: SandboxState) -> Response:
    """The agent the API key belongs to (`GET /api/v2/agents/me`), who writes the notes."""
    stamp = fd_time(utcnow() - timedelta(days=400))
    return json_response(
        {
            "available": True,
            "occasional": False,
            "id": API_AGENT_ID,
            "ticket_scope": 1,
            "signature": None,
            "group_ids": [],
            "role_ids": [],
            "skill_ids": [],
            "available_since": None,
            "contact": {
                "active": True,
                "email": "demo@example.com",
                "job_title": None,
                "language": "en",
                "last_login_at": stamp,
                "mobile": None,
                "name": "pmsync API user",
                "phone": None,
                "time_zone": "UTC",
                "created_at": stamp,
                "updated_at": stamp,
            },
            "created_at": stamp,
            "updated_at": stamp,
            "type": "support_agent",
        }
    )


async def add_note(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict):
        return _invalid("body", "Invalid JSON body", "invalid_json")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        return _invalid(
            "body", "It should not be blank as this is a mandatory field", "missing_field"
        )
    if not isinstance(body.get("private", True), bool):
        return _invalid("private", "It should be a/an Boolean", "datatype_mismatch")
    now = utcnow()
    with state.lock:
        found = state.freshdesk.tickets.get(request.path_params["id"])
        if found is None or found.get("deleted"):
            return _not_found()
        added = note(
            state.freshdesk.new_id(),
            found["id"],
            text,
            bool(body.get("private", True)),
            int(body.get("user_id") or API_AGENT_ID),
            now,
        )
        state.freshdesk.conversations.setdefault(found["id"], []).append(added)
        found["updated_at"] = fd_time(now)
    return json_response(added, 201)


async def conversations(request: Request, state: SandboxState) -> Response:
    paging = _paging(request, None)
    if isinstance(paging, Response):
        return paging
    with state.lock:
        found = state.freshdesk.tickets.get(request.path_params["id"])
        if found is None:
            return _not_found()
        notes = list(state.freshdesk.conversations.get(found["id"], []))
    path = f"/api/v2/tickets/{found['id']}/conversations"
    return _page_response(request, notes, *paging, path)


def _lister(kind: str) -> tuple[Any, Any]:
    async def list_records(request: Request, state: SandboxState) -> Response:
        paging = _paging(request, None)
        if isinstance(paging, Response):
            return paging
        with state.lock:
            records = sorted(
                getattr(state.freshdesk, kind).values(), key=lambda r: str(r.get("id")).zfill(20)
            )
        return _page_response(request, records, *paging, f"/api/v2/{kind}")

    async def show(request: Request, state: SandboxState) -> Response:
        with state.lock:
            found = getattr(state.freshdesk, kind).get(request.path_params["id"])
        return json_response(found) if found is not None else _not_found()

    return list_records, show


def routes() -> list[BaseRoute]:
    companies, company = _lister("companies")
    contacts, contact = _lister("contacts")
    table = [
        ("GET", "/api/v2/tickets", list_tickets),
        ("GET", "/api/v2/tickets/{id:int}", ticket),
        ("DELETE", "/api/v2/tickets/{id:int}", ticket),
        ("PUT", "/api/v2/tickets/{id:int}/restore", ticket),
        ("POST", "/api/v2/tickets/{id:int}/notes", add_note),
        ("GET", "/api/v2/agents/me", agent_me),
        ("GET", "/api/v2/tickets/{id:int}/conversations", conversations),
        ("GET", "/api/v2/companies", companies),
        ("GET", "/api/v2/companies/{id:int}", company),
        ("GET", "/api/v2/contacts", contacts),
        ("GET", "/api/v2/contacts/{id:int}", contact),
    ]
    api = [endpoint("freshdesk", method, path, handler, _guard) for method, path, handler in table]
    return [
        *api,
        *freshdesk_pages.routes(),
        any_other_path(unknown_route),
    ]


async def unknown_route(request: Request) -> Response:
    """Any other path: Freshdesk's JSON error body (`code`, `message`), not a text page.
    (unconfirmed) the code Freshdesk names for an unknown URL."""
    return json_response(
        {"code": "invalid_url", "message": f"The requested URL {request.url.path} was not found."},
        404,
    )
