"""Zendesk Support API v2, mounted under /zendesk (the account's subdomain URL).

Every path answers with and without `.json`, as Zendesk's do; an API token
(`email/token:<token>` basic auth) and an OAuth access token (`Authorization: Bearer`) are
both accepted; an unknown path answers Zendesk's JSON 404 (`InvalidEndpoint`). The agent
pages (`/agent/tickets/{id}`) are sandbox.zendesk_agent, the exports sandbox.zendesk_exports.
"""

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import malformed, zendesk_account
from sandbox.state import SandboxState
from sandbox.timefmt import utcnow, zendesk_time
from sandbox.web import (
    any_other_path,
    base_url,
    basic_credentials,
    bearer_token,
    decode_cursor,
    encode_cursor,
    endpoint,
    json_response,
    read_json,
)
from sandbox.zendesk_agent import organization_page, ticket_page
from sandbox.zendesk_data import API_USER_ID, comment
from sandbox.zendesk_exports import (
    ORGANIZATION_EXPORT,
    TICKET_EVENT_EXPORT,
    TICKET_EXPORT,
    TICKET_METRIC_EVENT_EXPORT,
    USER_EXPORT,
    USER_TIME_EXPORT,
    export_organizations,
    export_ticket_events,
    export_ticket_metric_events,
    export_tickets,
    export_users,
    export_users_by_time,
)
from sandbox.zendesk_exports import error as _error
from sandbox.zendesk_exports import with_url as _with_url
from sandbox.zendesk_links import LINK_LIST, deprecated_jira_links, jira_links

USER, TOKEN = "demo@example.com/token", "sandbox"
OAUTH_TOKEN = "sandbox"  # an OAuth access token, sent as `Authorization: Bearer sandbox`
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


def _not_found() -> Response:
    return _error(404, "RecordNotFound", "Not found")


def _guard(request: Request) -> Response | None:
    if basic_credentials(request) == (USER, TOKEN) or bearer_token(request) == OAUTH_TOKEN:
        return None
    return json_response({"error": "Couldn't authenticate you"}, 401)


def _open(request: Request) -> None:
    return None


def _ticket(state: SandboxState, ticket: dict[str, Any], base: str) -> dict[str, Any]:
    """A ticket as served: deleted ones intact, live ones possibly malformed."""
    shown = _with_url(ticket, base, "tickets")
    if ticket.get("status") == "deleted":
        return shown
    return malformed.serve(state, "zendesk", "ticket", ticket.get("id"), shown)


def _live(state: SandboxState, ticket_id: Any) -> dict[str, Any] | None:
    """A ticket that GET and PUT can reach: deleted tickets answer 404."""
    ticket = state.zendesk.tickets.get(ticket_id)
    return None if ticket is None or ticket.get("status") == "deleted" else ticket


def _cursor_page(
    request: Request, records: dict[Any, dict[str, Any]], kind: str, default_size: int = 100
) -> dict[str, Any] | None:
    """Zendesk's cursor pagination (page[size], page[after]); None for a bad cursor."""
    params = request.query_params
    size = min(default_size, max(1, int(params.get("page[size]", default_size))))
    ordered = sorted(records.values(), key=lambda r: str(r.get("id")).zfill(20))
    if "page[after]" in params:
        try:
            after = str(decode_cursor(params["page[after]"])).zfill(20)
        except ValueError:
            return None
        ordered = [r for r in ordered if str(r.get("id")).zfill(20) > after]
    page = ordered[:size]
    base = f"{base_url(request)}/api/v2/{kind}.json"
    first = encode_cursor(page[0].get("id")) if page else None
    last = encode_cursor(page[-1].get("id")) if page else None
    return {
        "items": page,
        "meta": {"has_more": len(ordered) > size, "after_cursor": last, "before_cursor": first},
        # Only forward paging is emulated, so no `prev` link is offered.
        "links": {
            "prev": None,
            "next": f"{base}?page[after]={last}&page[size]={size}" if last else None,
        },
    }


def _offset_page(request: Request, records: dict[Any, dict[str, Any]], kind: str) -> dict[str, Any]:
    """Without page[...] parameters Zendesk falls back to offset pagination."""
    page = max(1, int(request.query_params.get("page", 1)))
    size = min(100, max(1, int(request.query_params.get("per_page", 100))))
    ordered = sorted(records.values(), key=lambda r: str(r.get("id")).zfill(20))
    base = f"{base_url(request)}/api/v2/{kind}.json?per_page={size}&page="
    more = page * size < len(ordered)
    return {
        "items": ordered[(page - 1) * size : page * size],
        "count": len(ordered),
        "next_page": f"{base}{page + 1}" if more else None,
        "previous_page": f"{base}{page - 1}" if page > 1 else None,
    }


def _lister(kind: str) -> Any:
    async def list_records(request: Request, state: SandboxState) -> Response:
        cursor_style = any(k.startswith("page[") for k in request.query_params)
        try:
            with state.lock:
                records = getattr(state.zendesk, kind)
                body = (
                    _cursor_page(request, records, kind)
                    if cursor_style
                    else _offset_page(request, records, kind)
                )
        except ValueError:
            body = None
        if body is None:
            return _error(400, "InvalidPaginationParameter", "Invalid page parameters")
        items = [_with_url(r, base_url(request), kind) for r in body.pop("items")]
        return json_response({kind: items, **body})

    async def show_record(request: Request, state: SandboxState) -> Response:
        with state.lock:
            record = getattr(state.zendesk, kind).get(request.path_params["id"])
        if record is None:
            return _not_found()
        return json_response({kind[:-1]: _with_url(record, base_url(request), kind)})

    return list_records, show_record


async def show_ticket(request: Request, state: SandboxState) -> Response:
    """One ticket; `include=users,organizations` sideloads its people and organisation."""
    include = {p.strip() for p in request.query_params.get("include", "").split(",")}
    base = base_url(request)
    with state.lock:
        ticket = _live(state, request.path_params["id"])
        if ticket is None:
            return _not_found()
        body: dict[str, Any] = {"ticket": _ticket(state, ticket, base)}
        if "users" in include:
            people = [ticket.get(k) for k in ("requester_id", "submitter_id", "assignee_id")]
            body["users"] = [
                _with_url(state.zendesk.users[uid], base, "users")
                for uid in dict.fromkeys(people)
                if uid in state.zendesk.users
            ]
        if "organizations" in include:
            org = state.zendesk.organizations.get(ticket.get("organization_id"))
            body["organizations"] = [_with_url(org, base, "organizations")] if org else []
    return json_response(body)


async def update_ticket(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok:
        return json_response(
            {"error": "Unprocessable Entity", "message": "Server could not parse JSON"}, 400
        )
    changes = body.get("ticket") if isinstance(body, dict) else None
    if not isinstance(changes, dict):
        return _error(400, "InvalidEndpoint", "The request needs a 'ticket' object")
    note = changes.get("comment")
    text = (note.get("body") or note.get("html_body")) if isinstance(note, dict) else None
    public = bool(note.get("public", True)) if isinstance(note, dict) else True
    if note is not None and not (isinstance(text, str) and text.strip()):
        return _error(
            422,
            "RecordInvalid",
            "Record validation errors",
            details={
                "base": [{"description": "Comment: body can't be blank", "error": "BlankValue"}]
            },
        )
    if "status" in changes and changes["status"] not in STATUSES:
        return _error(
            422,
            "RecordInvalid",
            "Record validation errors",
            details={"status": [{"description": "Status: is not valid"}]},
        )
    now = utcnow()
    with state.lock:
        ticket = _live(state, request.path_params["id"])
        if ticket is None:
            return _not_found()
        # A closed ticket is read-only in Zendesk: follow-ups need a new ticket.
        if ticket.get("status") == "closed":
            return _error(
                422,
                "RecordInvalid",
                "Record validation errors",
                details={"status": [{"description": "Status: closed prevents ticket update"}]},
            )
        fields = {
            k: v
            for k, v in changes.items()
            if k in ("status", "priority", "subject", "tags", "type")
        }
        changed = any(ticket.get(k) != v for k, v in fields.items())
        ticket.update(fields)
        events: list[dict[str, Any]] = []
        if isinstance(text, str):
            markup = note.get("html_body") if isinstance(note, dict) else None
            added = comment(
                state.zendesk.new_id(),
                API_USER_ID,
                text,
                public,
                now,
                html_body=(
                    markup
                    if isinstance(markup, str) and isinstance(note, dict) and not note.get("body")
                    else None
                ),
            )
            state.zendesk.comments.setdefault(ticket.get("id"), []).append(added)
            events.append(
                {
                    k: added[k]
                    for k in (
                        "id",
                        "type",
                        "author_id",
                        "body",
                        "html_body",
                        "plain_body",
                        "public",
                        "attachments",
                        "audit_id",
                    )
                }
            )
        if changed or events:
            ticket.update(updated_at=zendesk_time(now), generated_timestamp=int(now.timestamp()))
        rendered = _ticket(state, ticket, base_url(request))
    audit: dict[str, Any] = {
        "id": state.zendesk.new_id(),
        "ticket_id": ticket.get("id"),
        "created_at": zendesk_time(now),
        "author_id": API_USER_ID,
        "metadata": {"system": {}, "custom": {}},
        "events": events,
    }
    return json_response({"ticket": rendered, "audit": audit})


async def ticket_comments(request: Request, state: SandboxState) -> Response:
    with state.lock:
        if _live(state, request.path_params["id"]) is None:
            return _not_found()
        comments = list(state.zendesk.comments.get(request.path_params["id"], []))
    return json_response(
        {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)}
    )


async def account_settings(request: Request, state: SandboxState) -> Response:
    """The account's settings, which clients read first to check a token (a documented
    subset of the groups: branding, apps, tickets, agents, groups, api, localization)."""
    return json_response(
        {
            "settings": {
                "branding": {
                    "header_color": "03363D",
                    "page_background_color": "333333",
                    "tab_background_color": "7FA239",
                    "text_color": "FFFFFF",
                    "header_logo_url": None,
                    "favicon_url": None,
                },
                "apps": {"use": True, "create_private": True, "create_public": False},
                "tickets": {
                    "comments_public_by_default": True,
                    "list_newest_comments_first": True,
                    "collaboration": True,
                    "private_attachments": False,
                    "tagging": True,
                    "list_empty_views": True,
                    "markdown_ticket_comments": False,
                    "emoji_autocompletion": True,
                    "agent_collision": True,
                    "has_color_text": True,
                },
                "agents": {"agent_workspace": True, "focus_mode": False},
                "groups": {"check_group_name_uniqueness": True},
                "api": {
                    "accepted_api_agreement": True,
                    "api_password_access": False,
                    "api_token_access": True,
                },
                "localization": {"locale_ids": [1]},
                "active_features": {
                    "ticket_tagging": True,
                    "user_tagging": True,
                    "organization_access_enabled": True,
                },
                "user": {"tagging": True, "time_zone_selection": True, "language_selection": True},
            }
        }
    )


async def users_me(request: Request, state: SandboxState) -> Response:
    """The authenticated user (`GET /api/v2/users/me`): an admin, or an agent on a tenant
    whose token is an agent's. Both may add private comments."""
    role = "admin" if state.tenant.zendesk_admin else "agent"
    user = {
        "id": 900001,
        "url": f"{base_url(request)}/api/v2/users/900001.json",
        "name": "pmsync API user",
        "email": "demo@example.com",
        "role": role,
        "role_type": None if role == "admin" else 0,
        "active": True,
        "verified": True,
        "suspended": False,
        "organization_id": None,
        "time_zone": "UTC",
        "locale": "en-US",
    }
    return json_response({"user": user})


async def not_found(request: Request) -> Response:
    """Zendesk's answer to a path it does not have (recorded in the wild:
    cloudbees-oss/zendesk-java-client#111), rather than a plain-text 404."""
    return _error(404, "InvalidEndpoint", "Not found")


def routes() -> list[BaseRoute]:
    users, user = _lister("users")
    orgs, org = _lister("organizations")
    table = [
        ("GET", TICKET_EXPORT, partial(export_tickets, show=_ticket)),
        ("GET", USER_EXPORT, export_users),
        ("GET", USER_TIME_EXPORT, export_users_by_time),
        ("GET", ORGANIZATION_EXPORT, export_organizations),
        ("GET", TICKET_EVENT_EXPORT, export_ticket_events),
        ("GET", TICKET_METRIC_EVENT_EXPORT, export_ticket_metric_events),
        ("GET", "/api/v2/tickets/{id:int}.json", show_ticket),
        ("PUT", "/api/v2/tickets/{id:int}.json", update_ticket),
        ("GET", "/api/v2/tickets/{id:int}/comments.json", ticket_comments),
        ("GET", "/api/v2/users/me.json", users_me),
        ("GET", "/api/v2/users.json", users),
        ("GET", "/api/v2/users/{id:int}.json", user),
        ("GET", "/api/v2/organizations.json", orgs),
        ("GET", "/api/v2/organizations/{id:int}.json", org),
        ("GET", LINK_LIST, jira_links),
        ("GET", "/api/services/jira/links", deprecated_jira_links),
        ("GET", "/api/v2/account/settings.json", account_settings),
        *(("GET", path, handler) for path, handler in zendesk_account.routes()),
    ]
    found: list[BaseRoute] = []
    for method, path, handler in table:
        # Counted under the documented path; served with and without `.json` (Zendesk
        # accepts either).
        route = endpoint("zendesk", method, path, handler, _guard)
        alias = path.removesuffix(".json") if path.endswith(".json") else f"{path}.json"
        found += [route, Route(alias, route.endpoint, methods=[method])]
    for path, page in (
        ("/agent/tickets/{id:int}", ticket_page),
        ("/agent/organizations/{id:int}", organization_page),
    ):
        found.append(endpoint("zendesk", "GET", path, page, _open))
    return [*found, any_other_path(not_found)]
