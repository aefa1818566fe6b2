"""The Jira links Zendesk's Jira integration keeps (ticket to issue): the current cursor
paged list (admins only) and the deprecated `/api/services/jira/links` that zenpy reads."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.state import SandboxState
from sandbox.web import base_url, json_response
from sandbox.zendesk_exports import error as _error

LINK_LIST = "/api/v2/jira/links"
# Zendesk's answer to a token whose role may not do this (an agent on an admins' endpoint).
FORBIDDEN = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner of "
    "this help desk for further help.",
}


def _links(
    state: SandboxState,
    params: Any,
    paging: tuple[str, str, str],
    ticket: str | None,
    issue: str | None,
) -> tuple[int, list[dict[str, Any]]] | Response:
    """A link list's page size (1 to 1000, 1000 by default) and the links, by id, past the
    one it starts after, of one ticket or one issue when asked. `paging`: the size's and
    the start's parameter names, and what to say when either is not an integer."""
    size_name, after_name, problem = paging
    try:
        size = min(1000, max(1, int(params.get(size_name, 1000))))
        after = int(params.get(after_name, 0))
    except ValueError:
        return _error(400, "InvalidPaginationParameter", problem)
    with state.lock:
        links = [
            dict(link)
            for link in sorted(state.zendesk.jira_links, key=lambda x: x["id"])
            if link["id"] > after
            and (ticket is None or str(link["ticket_id"]) == ticket)
            and (issue is None or str(link["issue_id"]) == issue)
        ]
    return size, links


async def jira_links(request: Request, state: SandboxState) -> Response:
    """The Jira integration's links, ordered by id: "Allowed for Admins", so an agent's
    token gets 403 here (and nowhere else). Paged by `page[size]` (1000 by default) and
    `page[after]`, an integer; `meta.after_cursor` is the next page's URL, as documented."""
    if not state.tenant.zendesk_admin:
        return json_response(FORBIDDEN, 403)
    params = request.query_params
    ticket = params.get("filter[ticket_id]") or params.get("ticket_id")
    issue = params.get("filter[issue_id]") or params.get("issue_id")
    paging = ("page[size]", "page[after]", "page[after] must be an integer")
    found = _links(state, params, paging, ticket, issue)
    if isinstance(found, Response):
        return found
    size, links = found
    # The documented link carries `ticket_id` as a string ("5000"), like `issue_id`.
    page = [{**link, "ticket_id": str(link["ticket_id"])} for link in links[:size]]
    cursor = f"{base_url(request)}{LINK_LIST}?page[after]={page[-1]['id']}" if page else None
    return json_response(
        {"links": page, "meta": {"has_more": len(links) > size, "after_cursor": cursor}}
    )


async def deprecated_jira_links(request: Request, state: SandboxState) -> Response:
    """The deprecated link list (`/api/services/jira/links`, which zenpy reads): `since_id`
    and `limit` (1000 by default) instead of the cursor, and no `meta`."""
    if not state.tenant.zendesk_admin:
        return json_response(FORBIDDEN, 403)
    params = request.query_params
    ticket, issue = params.get("ticket_id"), params.get("issue_id")
    paging = ("limit", "since_id", "since_id and limit must be integers")
    found = _links(state, params, paging, ticket, issue)
    if isinstance(found, Response):
        return found
    limit, links = found
    return json_response({"links": links[:limit]})
