"""Zendesk Support API v2, mounted under /zendesk (the account's subdomain URL)."""

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import malformed
from sandbox.state import SandboxState
from sandbox.timefmt import order_time, utcnow, zendesk_time
from sandbox.web import (
    base_url,
    basic_credentials,
    decode_cursor,
    encode_cursor,
    endpoint,
    json_response,
    read_json,
)
from sandbox.zendesk_data import (
    API_USER_ID,
    comment,
    decode_export_cursor,
    encode_export_cursor,
    export_position,
)

USER, TOKEN = "demo@example.com/token", "sandbox"
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
EXPORT = "/api/v2/incremental/tickets/cursor.json"
ORGANIZATION_EXPORT = "/api/v2/incremental/organizations.json"


def _error(status: int, error: str, description: str, **extra: Any) -> Response:
    return json_response({"error": error, "description": description, **extra}, status)


def _not_found() -> Response:
    return _error(404, "RecordNotFound", "Not found")


def _guard(request: Request) -> Response | None:
    if basic_credentials(request) == (USER, TOKEN):
        return None
    return json_response({"error": "Couldn't authenticate you"}, 401)


def _with_url(record: dict[str, Any], base: str, kind: str) -> dict[str, Any]:
    return {"url": f"{base}/api/v2/{kind}/{record.get('id')}.json", **record}


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


async def export_tickets(request: Request, state: SandboxState) -> Response:
    params, now, base = request.query_params, utcnow(), base_url(request)
    try:
        per_page = min(1000, max(1, int(params.get("per_page", 1000))))
        if "cursor" in params:
            position = decode_export_cursor(params["cursor"])
        elif "start_time" in params:
            start = int(params["start_time"])
            # Zendesk refuses a start_time inside the last minute with 422 InvalidValue.
            if start > now.timestamp() - 60:
                return _error(
                    422,
                    "InvalidValue",
                    "Too recent start_time. Use a start_time older than 1 minute",
                )
            position = (start, -1)
        else:
            return _error(400, "InvalidPaginationParameter", "start_time or cursor is required")
    except ValueError:
        return _error(400, "InvalidPaginationParameter", "Invalid cursor or start_time")
    include = {p.strip() for p in params.get("include", "").split(",")}
    # Deleted tickets stay in the export with status "deleted" unless excluded.
    keep_deleted = params.get("exclude_deleted", "false").lower() != "true"
    # Changes of the last `zendesk_export_delay_s` seconds are left out (a minute on Zendesk).
    newest = now.timestamp() - state.zendesk_export_delay_s
    with state.lock:
        ordered = sorted(
            (
                (position, t)
                for t in state.zendesk.tickets.values()
                if keep_deleted or t.get("status") != "deleted"
                for position in [export_position(t, now)]
                if not state.zendesk_export_delay_s or position[0] <= newest
            ),
            key=lambda pair: pair[0],
        )
        later = [pair for pair in ordered if pair[0] > position]
        page = later[:per_page]
        tickets = [_ticket(state, t, base) for _, t in page]
        users = {
            uid
            for t in tickets
            for uid in (t.get("requester_id"), t.get("submitter_id"), t.get("assignee_id"))
        }
        sideloads: dict[str, Any] = {}
        if "users" in include:
            sideloads["users"] = [
                _with_url(u, base, "users")
                for uid, u in state.zendesk.users.items()
                if uid in users
            ]
        if "organizations" in include:
            orgs = {t.get("organization_id") for t in tickets}
            sideloads["organizations"] = [
                _with_url(o, base, "organizations")
                for oid, o in state.zendesk.organizations.items()
                if oid in orgs
            ]
    # The last page still carries an after_cursor: resuming from it returns later changes.
    after = encode_export_cursor(page[-1][0] if page else position)
    before = encode_export_cursor((page[0][0][0], page[0][0][1] - 1)) if page else None
    keep = {k: params[k] for k in ("per_page", "include", "exclude_deleted") if k in params}

    def url(cursor: str) -> str:
        return f"{base}{EXPORT}?{urlencode({'cursor': cursor, **keep})}"

    return json_response(
        {
            "tickets": tickets,
            **sideloads,
            "after_url": url(after),
            "after_cursor": after,
            "before_url": url(before) if before else None,
            "before_cursor": before,
            "end_of_stream": len(later) <= per_page,
        }
    )


async def export_organizations(request: Request, state: SandboxState) -> Response:
    """The time-based incremental export: organisations changed at or after start_time,
    oldest first; each page's `end_time` is its newest change, the next page's start
    (so rows at that second come again); `end_of_stream` marks the last page."""
    params, now, base = request.query_params, utcnow(), base_url(request)
    try:
        start = int(params["start_time"])
        per_page = min(1000, max(1, int(params.get("per_page", 1000))))
    except KeyError:
        return _error(400, "InvalidPaginationParameter", "start_time is required")
    except ValueError:
        return _error(400, "InvalidPaginationParameter", "Invalid start_time or per_page")
    if start > now.timestamp() - 60:
        return _error(
            422, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute"
        )
    newest = now.timestamp() - state.zendesk_export_delay_s
    with state.lock:
        ordered = sorted(
            (
                (stamp, org)
                for org in state.zendesk.organizations.values()
                for stamp in [int(order_time(org.get("updated_at"), now).timestamp())]
                if stamp >= start and (not state.zendesk_export_delay_s or stamp <= newest)
            ),
            key=lambda pair: (pair[0], str(pair[1].get("id")).zfill(20)),
        )
        page = ordered[:per_page]
        organizations = [_with_url(org, base, "organizations") for _, org in page]
    end_time = page[-1][0] if page else start
    query = urlencode({"start_time": end_time, "per_page": per_page})
    return json_response(
        {
            "organizations": organizations,
            "count": len(organizations),
            "end_time": end_time,
            "next_page": f"{base}{ORGANIZATION_EXPORT}?{query}",
            "end_of_stream": len(ordered) <= per_page,
        }
    )


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
    with state.lock:
        ticket = _live(state, request.path_params["id"])
        if ticket is None:
            return _not_found()
        return json_response({"ticket": _ticket(state, ticket, base_url(request))})


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
            added = comment(state.zendesk.new_id(), API_USER_ID, text, public, now)
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


async def jira_links(request: Request, state: SandboxState) -> Response:
    params = request.query_params
    ticket = params.get("filter[ticket_id]") or params.get("ticket_id")
    issue = params.get("filter[issue_id]") or params.get("issue_id")
    try:
        size = min(1000, max(1, int(params.get("page[size]", 1000))))
        after = int(params.get("page[after]", 0))
    except ValueError:
        return _error(400, "InvalidPaginationParameter", "page[after] must be a link id")
    with state.lock:
        links = [
            dict(link)
            for link in sorted(state.zendesk.jira_links, key=lambda x: x["id"])
            if link["id"] > after
            and (ticket is None or str(link["ticket_id"]) == ticket)
            and (issue is None or str(link["issue_id"]) == issue)
        ]
    page = links[:size]
    return json_response(
        {
            "links": page,
            "meta": {
                "has_more": len(links) > size,
                "after_cursor": str(page[-1]["id"]) if page else None,
                "before_cursor": str(page[0]["id"]) if page else None,
            },
        }
    )


def routes() -> list[BaseRoute]:
    users, user = _lister("users")
    orgs, org = _lister("organizations")
    table = [
        ("GET", EXPORT, export_tickets),
        ("GET", ORGANIZATION_EXPORT, export_organizations),
        ("GET", "/api/v2/tickets/{id:int}.json", show_ticket),
        ("PUT", "/api/v2/tickets/{id:int}.json", update_ticket),
        ("GET", "/api/v2/tickets/{id:int}/comments.json", ticket_comments),
        ("GET", "/api/v2/users.json", users),
        ("GET", "/api/v2/users/{id:int}.json", user),
        ("GET", "/api/v2/organizations.json", orgs),
        ("GET", "/api/v2/organizations/{id:int}.json", org),
        ("GET", "/api/v2/jira/links", jira_links),
    ]
    return [endpoint("zendesk", method, path, handler, _guard) for method, path, handler in table]
