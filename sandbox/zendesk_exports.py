"""Zendesk's incremental exports: tickets (cursor based), users (cursor and time based) and
organizations and ticket events (time based), as the Incremental Exports reference
documents them.

Cursor-based pages carry `after_cursor`/`after_url`/`before_cursor`/`before_url` and
`end_of_stream`; the last page still has an `after_cursor` to resume from. Time-based pages
carry `end_time` (the newest change on the page, the next page's `start_time`, so rows of
that second come again), `next_page`, `count` and `end_of_stream`. Every export refuses a
`start_time` inside the last minute (422 InvalidValue) and leaves out the changes of the
last `zendesk_export_delay_s` seconds (a minute on Zendesk).
"""

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sandbox.state import SandboxState
from sandbox.timefmt import order_time, utcnow
from sandbox.web import base_url, json_response
from sandbox.zendesk_data import decode_export_cursor, encode_export_cursor, export_position

TICKET_EXPORT = "/api/v2/incremental/tickets/cursor.json"
USER_EXPORT = "/api/v2/incremental/users/cursor.json"
USER_TIME_EXPORT = "/api/v2/incremental/users.json"
ORGANIZATION_EXPORT = "/api/v2/incremental/organizations.json"

Position = tuple[int, int]
Shown = Callable[[SandboxState, dict[str, Any], str], dict[str, Any]]


def error(status: int, name: str, description: str, **extra: Any) -> Response:
    return json_response({"error": name, "description": description, **extra}, status)


def _too_recent() -> Response:
    return error(422, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")


def with_url(record: dict[str, Any], base: str, kind: str) -> dict[str, Any]:
    return {"url": f"{base}/api/v2/{kind}/{record.get('id')}.json", **record}


def _user_position(user: dict[str, Any], now: datetime) -> Position:
    uid = user.get("id")
    stamp = int(order_time(user.get("updated_at"), now).timestamp())
    return stamp, uid if isinstance(uid, int) and not isinstance(uid, bool) else 0


def _start(request: Request, now: datetime) -> tuple[Position | None, Response | None]:
    """Where a cursor-based export starts: its `cursor`, else `start_time` (at least a
    minute old), else a 400."""
    params = request.query_params
    try:
        if "cursor" in params:
            return decode_export_cursor(params["cursor"]), None
        if "start_time" in params:
            start = epoch(params["start_time"])
            if start > now.timestamp() - 60:
                return None, _too_recent()
            return (start, -1), None
    except ValueError:
        return None, error(400, "InvalidPaginationParameter", "Invalid cursor or start_time")
    return None, error(400, "InvalidPaginationParameter", "start_time or cursor is required")


def epoch(value: str) -> int:
    """A `start_time` in epoch seconds, read as Zendesk (Rails) reads an integer parameter:
    its leading digits. Clients rely on it: tap-zendesk sends `946684800.0` (Python's
    `timestamp()`) and, in its discovery, an ISO time (`2026-01-02T03:04:05Z`, read as
    second 2026), and is run against Zendesk daily. No leading digit is a 400."""
    match = re.match(r"\s*(\d+)", value)
    if match is None:
        raise ValueError(value)
    return int(match.group(1))


def _per_page(request: Request) -> int:
    return min(1000, max(1, int(request.query_params.get("per_page", 1000))))


def _cursor_export(
    request: Request,
    state: SandboxState,
    path: str,
    kind: str,
    records: Callable[[], list[tuple[Position, dict[str, Any]]]],
    sideloads: Callable[[list[dict[str, Any]]], dict[str, Any]],
) -> Response:
    now, base = utcnow(), base_url(request)
    try:
        per_page = _per_page(request)
    except ValueError:
        return error(400, "InvalidPaginationParameter", "Invalid per_page")
    position, refused = _start(request, now)
    if refused is not None or position is None:
        return refused or error(400, "InvalidPaginationParameter", "Invalid cursor")
    newest = now.timestamp() - state.zendesk_export_delay_s
    with state.lock:
        ordered = sorted(
            (
                pair
                for pair in records()
                if not state.zendesk_export_delay_s or pair[0][0] <= newest
            ),
            key=lambda pair: pair[0],
        )
        later = [pair for pair in ordered if pair[0] > position]
        page = later[:per_page]
        shown = [record for _, record in page]
        extra = sideloads(shown)
    # The last page still carries an after_cursor: resuming from it returns later changes.
    after = encode_export_cursor(page[-1][0] if page else position)
    before = encode_export_cursor((page[0][0][0], page[0][0][1] - 1)) if page else None
    params = request.query_params
    keep = {k: params[k] for k in ("per_page", "include", "exclude_deleted") if k in params}

    def url(cursor: str) -> str:
        return f"{base}{path}?{urlencode({'cursor': cursor, **keep})}"

    return json_response(
        {
            kind: shown,
            **extra,
            "after_url": url(after),
            "after_cursor": after,
            "before_url": url(before) if before else None,
            "before_cursor": before,
            "end_of_stream": len(later) <= per_page,
        }
    )


async def export_tickets(request: Request, state: SandboxState, show: Shown) -> Response:
    """Tickets by (generated_timestamp, id); deleted ones stay, marked so, unless
    `exclude_deleted=true`; `include=users,organizations` sideloads."""
    params, now, base = request.query_params, utcnow(), base_url(request)
    include = {p.strip() for p in params.get("include", "").split(",")}
    keep_deleted = params.get("exclude_deleted", "false").lower() != "true"

    def records() -> list[tuple[Position, dict[str, Any]]]:
        return [
            (export_position(t, now), t)
            for t in state.zendesk.tickets.values()
            if keep_deleted or t.get("status") != "deleted"
        ]

    def sideloads(tickets: list[dict[str, Any]]) -> dict[str, Any]:
        for i, ticket in enumerate(tickets):
            tickets[i] = show(state, ticket, base)
        loaded: dict[str, Any] = {}
        if "users" in include:
            users = {
                uid
                for t in tickets
                for uid in (t.get("requester_id"), t.get("submitter_id"), t.get("assignee_id"))
            }
            loaded["users"] = [
                with_url(u, base, "users") for uid, u in state.zendesk.users.items() if uid in users
            ]
        if "organizations" in include:
            loaded["organizations"] = _organizations_of(state, tickets, base)
        return loaded

    return _cursor_export(request, state, TICKET_EXPORT, "tickets", records, sideloads)


async def export_users(request: Request, state: SandboxState) -> Response:
    """Users by (updated_at, id), cursor based; `include=identities,organizations`
    sideloads."""
    now, base = utcnow(), base_url(request)
    include = {p.strip() for p in request.query_params.get("include", "").split(",")}

    def records() -> list[tuple[Position, dict[str, Any]]]:
        return [(_user_position(u, now), u) for u in state.zendesk.users.values()]

    def sideloads(users: list[dict[str, Any]]) -> dict[str, Any]:
        for i, user in enumerate(users):
            users[i] = with_url(user, base, "users")
        loaded: dict[str, Any] = {}
        if "identities" in include:
            loaded["identities"] = [_email_identity(u, base) for u in users if u.get("email")]
        if "organizations" in include:
            loaded["organizations"] = _organizations_of(state, users, base)
        return loaded

    return _cursor_export(request, state, USER_EXPORT, "users", records, sideloads)


def _organizations_of(
    state: SandboxState, records: list[dict[str, Any]], base: str
) -> list[dict[str, Any]]:
    """The organizations the records belong to, as `include=organizations` sideloads them."""
    orgs = {r.get("organization_id") for r in records}
    return [
        with_url(o, base, "organizations")
        for oid, o in state.zendesk.organizations.items()
        if oid in orgs
    ]


def _email_identity(user: dict[str, Any], base: str) -> dict[str, Any]:
    """A user's primary email identity (what `include=identities` sideloads)."""
    iid = int(user["id"]) * 10 + 1 if isinstance(user.get("id"), int) else 0
    return {
        "url": f"{base}/api/v2/users/{user.get('id')}/identities/{iid}.json",
        "id": iid,
        "user_id": user.get("id"),
        "type": "email",
        "value": user.get("email"),
        "verified": bool(user.get("verified")),
        "primary": True,
        "created_at": user.get("created_at"),
        "updated_at": user.get("created_at"),
        "undeliverable_count": 0,
        "deliverable_state": "deliverable",
    }


def _time_window(request: Request, now: datetime) -> tuple[int, int] | Response:
    """A time-based export's start_time and per_page, or Zendesk's refusal of them."""
    try:
        start = epoch(request.query_params["start_time"])
        per_page = _per_page(request)
    except KeyError:
        return error(400, "InvalidPaginationParameter", "start_time is required")
    except ValueError:
        return error(400, "InvalidPaginationParameter", "Invalid start_time or per_page")
    if start > now.timestamp() - 60:
        return _too_recent()
    return start, per_page


def _time_export(
    request: Request, state: SandboxState, path: str, kind: str, store: dict[Any, dict[str, Any]]
) -> Response:
    """Records changed at or after start_time, oldest first; each page's `end_time` is its
    newest change, the next page's start (so rows at that second come again);
    `end_of_stream` marks the last page."""
    now, base = utcnow(), base_url(request)
    window = _time_window(request, now)
    if isinstance(window, Response):
        return window
    start, per_page = window
    newest = now.timestamp() - state.zendesk_export_delay_s
    with state.lock:
        ordered = sorted(
            (
                (stamp, record)
                for record in store.values()
                for stamp in [int(order_time(record.get("updated_at"), now).timestamp())]
                if stamp >= start and (not state.zendesk_export_delay_s or stamp <= newest)
            ),
            key=lambda pair: (pair[0], str(pair[1].get("id")).zfill(20)),
        )
        page = ordered[:per_page]
        shown = [with_url(record, base, kind) for _, record in page]
    end_time = page[-1][0] if page else start
    query = urlencode({"start_time": end_time, "per_page": per_page})
    return json_response(
        {
            kind: shown,
            "count": len(shown),
            "end_time": end_time,
            "next_page": f"{base}{path}?{query}",
            "end_of_stream": len(ordered) <= per_page,
        }
    )


async def export_organizations(request: Request, state: SandboxState) -> Response:
    return _time_export(
        request, state, ORGANIZATION_EXPORT, "organizations", state.zendesk.organizations
    )


async def export_users_by_time(request: Request, state: SandboxState) -> Response:
    return _time_export(request, state, USER_TIME_EXPORT, "users", state.zendesk.users)


TICKET_EVENT_EXPORT = "/api/v2/incremental/ticket_events.json"


def _ticket_event(ticket_id: Any, comment: dict[str, Any], with_comment: bool) -> dict:
    """The audit that added a comment, as the ticket event export lists it; its comment
    is a child event only with `include=comment_events`."""
    via = comment.get("via") or {}
    child = {
        **comment,
        "event_type": "Comment",
        "comment_present": True,
        "comment_public": comment.get("public"),
    }
    return {
        "id": comment.get("audit_id"),
        "ticket_id": ticket_id,
        "timestamp": None,  # filled by the caller: the event's epoch second
        "created_at": comment.get("created_at"),
        "updater_id": comment.get("author_id"),
        "via": str(via.get("channel", "api")).capitalize() if isinstance(via, dict) else via,
        "via_reference_id": None,
        "system": {},
        "metadata": comment.get("metadata") or {},
        "event_type": "Audit",
        "merged_ticket_ids": [],
        "child_events": [child] if with_comment else [],
    }


async def export_ticket_events(request: Request, state: SandboxState) -> Response:
    """Ticket events (time based) since `start_time`: here the audits that added comments,
    oldest first; `include=comment_events` adds each comment as a child event. Paging as
    the other time-based exports (`end_time`, `next_page`, `count`, `end_of_stream`)."""
    params, now, base = request.query_params, utcnow(), base_url(request)
    window = _time_window(request, now)
    if isinstance(window, Response):
        return window
    start, per_page = window
    with_comment = "comment_events" in params.get("include", "").split(",")
    newest = now.timestamp() - state.zendesk_export_delay_s
    with state.lock:
        events = []
        for ticket_id, comments in state.zendesk.comments.items():
            for item in comments:
                stamp = int(order_time(item.get("created_at"), now).timestamp())
                if stamp >= start and (not state.zendesk_export_delay_s or stamp <= newest):
                    event = _ticket_event(ticket_id, item, with_comment)
                    events.append((stamp, {**event, "timestamp": stamp}))
        events.sort(key=lambda pair: (pair[0], str(pair[1].get("id")).zfill(20)))
        page = events[:per_page]
    end_time = page[-1][0] if page else start
    keep = {"include": params["include"]} if "include" in params else {}
    query = urlencode({"start_time": end_time, "per_page": per_page, **keep})
    return json_response(
        {
            "ticket_events": [event for _, event in page],
            "count": len(page),
            "end_time": end_time,
            "next_page": f"{base}{TICKET_EVENT_EXPORT}?{query}",
            "end_of_stream": len(events) <= per_page,
        }
    )


TICKET_METRIC_EVENT_EXPORT = "/api/v2/incremental/ticket_metric_events.json"


async def export_ticket_metric_events(request: Request, state: SandboxState) -> Response:
    """Ticket metric events (time based) on or after `start_time`; unlike the record
    exports, its reference states no one-minute rule, so a start time of now is taken. The
    sandbox keeps no SLA or reply-time metrics, so the export is empty, in the documented
    shape (`count`, `end_time`, `next_page`)."""
    try:
        start = epoch(request.query_params["start_time"])
    except KeyError:
        return error(400, "InvalidPaginationParameter", "start_time is required")
    except ValueError:
        return error(400, "InvalidPaginationParameter", "Invalid start_time")
    return json_response(
        {"ticket_metric_events": [], "count": 0, "end_time": start, "next_page": None}
    )
