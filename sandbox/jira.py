"""Jira Cloud REST API v2 and v3, mounted under /jira (the site's context path)."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.browse import browse
from sandbox.jira_comments import add_comment, comment, list_comments
from sandbox.jira_create import create_issue
from sandbox.jira_data import (
    API_USER,
    FIELD_NAMES,
    SORTABLE_FIELDS,
    field_catalogue,
    render_issue,
    selection,
)
from sandbox.jira_edit import (
    INVALID_PAYLOAD,
    edit_issue,
)
from sandbox.jira_expand import expand
from sandbox.jira_expand import wanted as expand_options
from sandbox.jira_fields import user_ref
from sandbox.jira_issue_parts import issue_property, properties, remote_links
from sandbox.jira_projects import my_permissions, not_found, project_search, projects
from sandbox.jira_search import TokenError, matches, project_of
from sandbox.jira_search import search as run_search
from sandbox.jira_web import NO_ISSUE, api_version, error
from sandbox.jql import JqlError, parse
from sandbox.state import SandboxState
from sandbox.timefmt import jira_time, utcnow
from sandbox.web import (
    RouteTable,
    any_other_path,
    base_url,
    basic_credentials,
    json_response,
    query_list,
    read_json,
)

EMAIL, API_TOKEN = "demo@example.com", "sandbox"
SEARCH_KEYS = {
    "jql",
    "nextPageToken",
    "maxResults",
    "fields",
    "expand",
    "properties",
    "fieldsByKeys",
    "failFast",
    "reconcileIssues",
}
REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
    "API. A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NOT_ADMIN = (
    "To discard the user notification either admin or project admin permissions are required."
)


def _guard(request: Request) -> Response | None:
    if basic_credentials(request) == (EMAIL, API_TOKEN):
        return None
    return error(
        401, ["You are not authenticated. Authentication required to perform this operation."]
    )


def _open(request: Request) -> None:
    return None  # serverInfo can be read anonymously on Jira Cloud


def _base(request: Request) -> str:
    return base_url(request)


def _shown(
    state: SandboxState,
    issue: dict[str, Any],
    version: str,
    base: str,
    chosen: tuple[bool, set[str], set[str]],
    options: set[str],
) -> dict[str, Any]:
    """An issue as the API shows it: rendered, with the expansions asked for."""
    key = str(issue.get("key"))
    rendered = render_issue(issue, state.jira.comments.get(key, []), version, base, chosen)
    return expand(issue, rendered, options, FIELD_NAMES, state.jira.history.get(key, []))


async def server_info(request: Request, state: SandboxState) -> Response:
    now = utcnow()
    return json_response(
        {
            "baseUrl": _base(request),
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100289,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": jira_time(now),
            "scmInfo": "8d1a5d2c7b0c9a35c6b0b0f1e7d2c8a3f4e5d6c7",
            "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "Etc/UTC",
            "displayUrl": _base(request),
            "displayUrlServicedeskHelpCenter": f"{_base(request)}/servicedesk/customer",
        }
    )


async def myself(request: Request, state: SandboxState) -> Response:
    return json_response(
        {
            **user_ref(API_USER, _base(request), api_version(request)),
            "key": "",  # gone for privacy (GDPR): Jira Cloud serves them empty
            "name": "",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
        }
    )


async def fields(request: Request, state: SandboxState) -> Response:
    return json_response(field_catalogue())


async def removed_search(request: Request, state: SandboxState) -> Response:
    return error(410, [REMOVED])


async def search(request: Request, state: SandboxState) -> Response:
    if request.method == "POST":
        ok, params = await read_json(request)
        if not ok or not isinstance(params, dict) or set(params) - SEARCH_KEYS:
            return error(400, [INVALID_PAYLOAD])
        wanted = params.get("fields") or []
        wanted = wanted.split(",") if isinstance(wanted, str) else [str(f) for f in wanted]
        props = params.get("properties") or []
        props = props.split(",") if isinstance(props, str) else [str(p) for p in props]
    else:
        params, wanted = dict(request.query_params), query_list(request, "fields")
        props = query_list(request, "properties")
    props = [p.strip() for p in props if p.strip()]
    options = expand_options(params.get("expand"))
    if len(props) > 5:
        return error(400, ["At most 5 issue properties can be requested."])
    jql = str(params.get("jql") or "")
    chosen = selection([f.strip() for f in wanted if f.strip()], "id")
    try:
        query = parse(jql, utcnow(), SORTABLE_FIELDS)
        limit = int(params["maxResults"]) if params.get("maxResults") is not None else 50
    except JqlError as exc:
        return error(400, [str(exc)])
    except (TypeError, ValueError):
        return error(400, ["The value of maxResults must be an integer."])
    if limit < 1:
        return error(400, ["The value of maxResults must be greater than 0."])
    # Jira serves up to 5000 issues a page for id/key alone, else at most 100. The Key
    # field's id is `issuekey` (the `jira` package turns "id" and "key" into it through
    # the field catalogue's clause names): asking for it is asking for the key alone.
    limit = min(limit, 5000 if not chosen[0] and chosen[1] <= {"id", "key", "issuekey"} else 100)
    version, base = api_version(request), _base(request)
    with state.lock:
        # Search is eventually consistent: issues written in the last `search_lag_s`
        # seconds are not in the index yet (a direct GET sees them at once).
        issues = [i for i in state.jira.issues.values() if state.indexed("jira", i.get("key"))]
        missing = sorted((query.projects or set()) - {project_of(i) for i in issues})
        if missing:
            return error(400, [f"The value '{missing[0]}' does not exist for the field 'project'."])
        try:
            page, token = run_search(
                issues, query, jql, params.get("nextPageToken"), limit, utcnow()
            )
        except TokenError:
            return error(400, ["The provided next page token is invalid or expired."])
        rendered = [_shown(state, i, version, base, chosen, options) for i in page]
        if props:  # Jira adds the asked-for entity properties the issue has
            for raw, issue in zip(rendered, page, strict=True):
                have = state.jira.properties.get(str(issue.get("key")), {})
                raw["properties"] = {k: v for k, v in have.items() if k in props}
    body: dict[str, Any] = {"issues": rendered, "isLast": token is None}
    if token:
        body["nextPageToken"] = token
    return json_response(body)


async def approximate_count(request: Request, state: SandboxState) -> Response:
    ok, params = await read_json(request)
    if not ok or not isinstance(params, dict):
        return error(400, [INVALID_PAYLOAD])
    try:
        query = parse(str(params.get("jql") or ""), utcnow(), SORTABLE_FIELDS)
    except JqlError as exc:
        return error(400, [str(exc)])
    with state.lock:
        count = sum(
            matches(i, query, utcnow())
            for i in state.jira.issues.values()
            if state.indexed("jira", i.get("key"))
        )
    return json_response({"count": count})


async def get_issue(request: Request, state: SandboxState) -> Response:
    chosen = selection(query_list(request, "fields"), "*all")
    version, base = api_version(request), _base(request)
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        options = expand_options(request.query_params.get("expand"))
        body = _shown(state, issue, version, base, chosen, options)
        props = state.jira.properties.get(str(issue.get("key")), {})
        wanted = query_list(request, "properties")
        if wanted:
            body["properties"] = {k: v for k, v in props.items() if "*all" in wanted or k in wanted}
    return json_response(body)


async def put_issue(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    quiet = request.query_params.get("notifyUsers", "true").lower() == "false"
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        if quiet and not state.tenant.jira_admin:
            # Discarding the watchers' mail needs Administer Jira or Administer Projects.
            return error(403, [NOT_ADMIN])
        try:
            errors = edit_issue(
                state.jira, issue, body if ok else None, api_version(request), utcnow(), quiet
            )
        except ValueError as exc:
            return error(400, [str(exc)])
        if not errors:
            state.touch("jira", issue.get("key"))
    return error(400, errors=errors) if errors else Response(status_code=204)


async def post_issue(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok:
        return error(400, [INVALID_PAYLOAD])
    version = api_version(request)
    with state.lock:
        issue, errors = create_issue(
            state.jira.issues, state.jira.projects, body, version, state.jira.new_id()
        )
        if issue is None:
            return error(400, errors=errors)
        state.jira.history[issue["key"]] = []
        state.touch("jira", issue["key"])
    link = f"{_base(request)}/rest/api/{version}/issue/{issue['id']}"
    return json_response({"id": issue["id"], "key": issue["key"], "self": link}, 201)


def routes() -> list[BaseRoute]:
    table = RouteTable("jira", _guard)
    add = table.add
    add("GET", "/browse/{key}", browse, _open)
    for v in ("2", "3"):
        api = f"/rest/api/{v}"
        add("GET", f"{api}/serverInfo", server_info, _open)
        add("GET", f"{api}/myself", myself)
        add("GET", f"{api}/field", fields)
        add("GET", f"{api}/search/jql", search)
        add("POST", f"{api}/search/jql", search, read=True)
        add("POST", f"{api}/search/approximate-count", approximate_count, read=True)
        add("GET", f"{api}/search", removed_search)
        add("POST", f"{api}/search", removed_search, read=True)
        add("POST", f"{api}/issue", post_issue)
        add("GET", f"{api}/issue/{{key}}", get_issue)
        add("PUT", f"{api}/issue/{{key}}", put_issue)
        add("GET", f"{api}/issue/{{key}}/comment", list_comments)
        add("POST", f"{api}/issue/{{key}}/comment", add_comment)
        add("GET", f"{api}/issue/{{key}}/properties", properties)
        for method in ("GET", "PUT", "DELETE"):
            add(method, f"{api}/issue/{{key}}/comment/{{id}}", comment)
            add(method, f"{api}/issue/{{key}}/properties/{{propertyKey}}", issue_property)
        for method in ("GET", "POST"):
            add(method, f"{api}/issue/{{key}}/remotelink", remote_links)
        add("GET", f"{api}/project/search", project_search)
        add("GET", f"{api}/project", projects)
        add("GET", f"{api}/project/{{key}}", projects)
        add("GET", f"{api}/mypermissions", my_permissions)
    # Last: any other path answers Jira's JSON 404, never plain text.
    return [*table.routes, any_other_path(not_found)]
