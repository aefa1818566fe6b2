"""Zendesk's account configuration and the lists schema-discovering clients read before the
records, as the Support API reference documents them: groups and group memberships, tags
(with their ticket counts), ticket fields (the system fields and the account's custom
Category field), ticket forms, user and organization fields, macros, satisfaction ratings,
SLA policies, a ticket's audits, and search (`/api/v2/search.json`: `type:`, `updated>`/`<`,
`created>`/`<` and free text). Lists page by cursor (`page[size]`, `page[after]`), the
account holds no macros, ratings, policies, Talk numbers or user/organization fields, and
its one group
is the one every ticket is in."""

from collections import Counter
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.state import SandboxState
from sandbox.timefmt import order_time, utcnow
from sandbox.web import base_url, decode_cursor, encode_cursor, json_response
from sandbox.zendesk_data import CATEGORY_FIELD, GROUP_ID
from sandbox.zendesk_exports import error, with_url

ACCOUNT_CREATED = "2019-03-01T09:00:00Z"
FORM_ID, MEMBERSHIP_BASE = 360_000_114_233, 360_001_500_000
# The system ticket fields every account has: (id, type, title).
SYSTEM_FIELDS = (
    (360_012_776_382, "subject", "Subject"),
    (360_012_776_383, "description", "Description"),
    (360_012_776_384, "status", "Status"),
    (360_012_776_385, "tickettype", "Type"),
    (360_012_776_386, "priority", "Priority"),
    (360_012_776_387, "group", "Group"),
    (360_012_776_388, "assignee", "Assignee"),
)
SEARCH_TYPES = {"ticket": "tickets", "user": "users", "organization": "organizations"}


def _page(request: Request, kind: str, items: list[dict[str, Any]]) -> Response:
    """Cursor pagination over a list in its given order (offset as the opaque cursor)."""
    params = request.query_params
    try:
        size = min(100, max(1, int(params.get("page[size]", params.get("per_page", 100)))))
        start = int(decode_cursor(params["page[after]"])) if "page[after]" in params else 0
    except (ValueError, TypeError):
        return error(400, "InvalidPaginationParameter", "Invalid page parameters")
    page, end = items[start : start + size], start + size
    more = end < len(items)
    after = encode_cursor(end) if page else None
    url = f"{base_url(request)}/api/v2/{kind}.json"
    return json_response(
        {
            kind.rsplit("/", 1)[-1]: page,
            "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
            "links": {
                "prev": None,
                "next": f"{url}?page[after]={after}&page[size]={size}" if more else None,
            },
        }
    )


def _empty(kind: str, key: str | None = None) -> Any:
    async def answer(request: Request, state: SandboxState) -> Response:
        if key is not None:  # an offset-paged list: `next_page`, `count`
            return json_response({key: [], "next_page": None, "previous_page": None, "count": 0})
        return _page(request, kind, [])

    return answer


async def groups(request: Request, state: SandboxState) -> Response:
    group = {
        "url": f"{base_url(request)}/api/v2/groups/{GROUP_ID}.json",
        "id": GROUP_ID,
        "is_public": True,
        "name": "Support",
        "description": "",
        "default": True,
        "deleted": False,
        "created_at": ACCOUNT_CREATED,
        "updated_at": ACCOUNT_CREATED,
    }
    return _page(request, "groups", [group])


async def group_memberships(request: Request, state: SandboxState) -> Response:
    with state.lock:
        agents = sorted(
            uid
            for uid, user in state.zendesk.users.items()
            if user.get("role") in ("agent", "admin") and isinstance(uid, int)
        )
        created = {uid: state.zendesk.users[uid].get("created_at") for uid in agents}
    base = base_url(request)
    rows = [
        {
            "url": f"{base}/api/v2/group_memberships/{MEMBERSHIP_BASE + n}.json",
            "id": MEMBERSHIP_BASE + n,
            "user_id": uid,
            "group_id": GROUP_ID,
            "default": True,
            "created_at": created[uid],
            "updated_at": created[uid],
        }
        for n, uid in enumerate(agents)
    ]
    return _page(request, "group_memberships", rows)


async def tags(request: Request, state: SandboxState) -> Response:
    """The account's tags, most used first, each with its ticket count."""
    with state.lock:
        counts = Counter(tag for t in state.zendesk.tickets.values() for tag in t.get("tags") or [])
    rows = [
        {"name": name, "count": n}
        for name, n in sorted(counts.items(), key=lambda p: (-p[1], p[0]))
    ]
    return _page(request, "tags", rows)


def _field(base: str, fid: int, kind: str, title: str, position: int, **extra: Any) -> dict:
    custom = kind == "tagger"
    return {
        "url": f"{base}/api/v2/ticket_fields/{fid}.json",
        "id": fid,
        "type": kind,
        "title": title,
        "raw_title": title,
        "description": "",
        "raw_description": "",
        "position": position,
        "active": True,
        "required": False,
        "collapsed_for_agents": False,
        "regexp_for_validation": None,
        "title_in_portal": title,
        "raw_title_in_portal": title,
        "visible_in_portal": kind in ("subject", "description"),
        "editable_in_portal": kind in ("subject", "description"),
        "required_in_portal": kind in ("subject", "description"),
        "tag": None,
        "created_at": ACCOUNT_CREATED,
        "updated_at": ACCOUNT_CREATED,
        "removable": custom,
        "key": None,
        "agent_description": None,
        **extra,
    }


def _ticket_fields(state: SandboxState, base: str) -> list[dict[str, Any]]:
    with state.lock:
        values = sorted(
            {
                str(f.get("value"))
                for t in state.zendesk.tickets.values()
                for f in t.get("custom_fields") or []
                if f.get("id") == CATEGORY_FIELD and f.get("value") is not None
            }
        )
    options = [
        {
            "id": CATEGORY_FIELD + 100 + n,
            "name": v.replace("_", " ").capitalize(),
            "raw_name": v.replace("_", " ").capitalize(),
            "value": v,
            "default": False,
        }
        for n, v in enumerate(values)
    ]
    fields = [
        _field(base, fid, kind, title, n) for n, (fid, kind, title) in enumerate(SYSTEM_FIELDS)
    ]
    category = _field(
        base, CATEGORY_FIELD, "tagger", "Category", len(fields), custom_field_options=options
    )
    return [*fields, category]


async def ticket_fields(request: Request, state: SandboxState) -> Response:
    return _page(request, "ticket_fields", _ticket_fields(state, base_url(request)))


async def ticket_forms(request: Request, state: SandboxState) -> Response:
    ids = [f["id"] for f in _ticket_fields(state, base_url(request))]
    form = {
        "url": f"{base_url(request)}/api/v2/ticket_forms/{FORM_ID}.json",
        "id": FORM_ID,
        "name": "Default Ticket Form",
        "raw_name": "Default Ticket Form",
        "display_name": "Default Ticket Form",
        "raw_display_name": "Default Ticket Form",
        "end_user_visible": True,
        "position": 0,
        "ticket_field_ids": ids,
        "active": True,
        "default": True,
        "in_all_brands": True,
        "restricted_brand_ids": [],
        "created_at": ACCOUNT_CREATED,
        "updated_at": ACCOUNT_CREATED,
    }
    return json_response(
        {"ticket_forms": [form], "next_page": None, "previous_page": None, "count": 1}
    )


async def ticket_audits(request: Request, state: SandboxState) -> Response:
    """A ticket's audits, oldest first: here one per comment, the comment its event."""
    with state.lock:
        ticket_id = request.path_params["id"]
        if ticket_id not in state.zendesk.tickets:
            return error(404, "RecordNotFound", "Not found")
        comments = list(state.zendesk.comments.get(ticket_id, []))
    audits = [
        {
            "id": c.get("audit_id"),
            "ticket_id": ticket_id,
            "created_at": c.get("created_at"),
            "author_id": c.get("author_id"),
            "metadata": c.get("metadata") or {},
            "via": c.get("via"),
            "events": [{k: v for k, v in c.items() if k not in ("via", "created_at", "metadata")}],
        }
        for c in comments
    ]
    return _page(request, f"tickets/{ticket_id}/audits", audits)


def _search_terms(query: str, now: datetime) -> tuple[str | None, list[Any], list[str]] | None:
    kind, limits, words = None, [], []
    for term in query.split():
        name, op, value = next(
            ((term[:i], term[i], term[i + 1 :]) for i, ch in enumerate(term) if ch in ":<>"),
            ("", "", term),
        )
        if name == "type" and op == ":":
            if value not in SEARCH_TYPES:
                return None
            kind = value
        elif name in ("updated", "created") and op in "<>":
            try:
                limits.append((f"{name}_at", op, order_time(value, now)))
            except ValueError:
                return None
        else:
            words.append(term.lower())
    return kind, limits, words


async def search(request: Request, state: SandboxState) -> Response:
    now, base = utcnow(), base_url(request)
    parsed = _search_terms(request.query_params.get("query", ""), now)
    if parsed is None:
        return error(400, "InvalidValue", "Invalid search query")
    kind, limits, words = parsed
    results = []
    with state.lock:
        for type_name, store_name in SEARCH_TYPES.items():
            if kind not in (None, type_name):
                continue
            for record in getattr(state.zendesk, store_name).values():
                if record.get("status") == "deleted":
                    continue
                stamps = {k: order_time(record.get(k), now) for k in ("updated_at", "created_at")}
                if any(
                    (stamps[f] <= at) if op == ">" else (stamps[f] >= at) for f, op, at in limits
                ):
                    continue
                text = " ".join(
                    str(record.get(k) or "") for k in ("name", "email", "subject", "description")
                ).lower()
                if all(w in text for w in words):
                    results.append({**with_url(record, base, store_name), "result_type": type_name})
    return json_response(
        {
            "results": results[:100],
            "facets": None,
            "next_page": None,
            "previous_page": None,
            "count": len(results),
        }
    )


def routes() -> list[tuple[str, Any]]:
    """(path, handler) for GET; sandbox.zendesk mounts them (with and without `.json`)."""
    return [
        ("/api/v2/groups.json", groups),
        ("/api/v2/group_memberships.json", group_memberships),
        ("/api/v2/tags.json", tags),
        ("/api/v2/ticket_fields.json", ticket_fields),
        ("/api/v2/ticket_forms.json", ticket_forms),
        ("/api/v2/macros.json", _empty("macros")),
        ("/api/v2/satisfaction_ratings.json", _empty("satisfaction_ratings")),
        ("/api/v2/user_fields.json", _empty("user_fields", "user_fields")),
        ("/api/v2/organization_fields.json", _empty("organization_fields", "organization_fields")),
        ("/api/v2/slas/policies.json", _empty("slas/policies", "sla_policies")),
        ("/api/v2/channels/voice/phone_numbers.json", _empty("phone_numbers", "phone_numbers")),
        ("/api/v2/tickets/{id:int}/audits.json", ticket_audits),
        ("/api/v2/search.json", search),
    ]
