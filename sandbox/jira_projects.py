"""Jira projects and the API user's permissions: `GET /rest/api/3/project/search` (paged
with startAt, `isLast`), `GET /rest/api/3/mypermissions`, and Jira's JSON 404 for any
route it does not have."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.jira_fields import avatars
from sandbox.jira_web import error
from sandbox.state import SandboxState
from sandbox.web import base_url, json_response, query_list

PROJECT_TYPES = ("software", "service_desk", "business")
# id, name, type of each permission the sandbox knows (Jira's built-in keys).
PERMISSIONS = {
    "BROWSE_PROJECTS": ("10", "Browse Projects", "PROJECT"),
    "EDIT_ISSUES": ("12", "Edit Issues", "PROJECT"),
    "ADD_COMMENTS": ("15", "Add Comments", "PROJECT"),
    "EDIT_ALL_COMMENTS": ("34", "Edit All Comments", "PROJECT"),
    "ADMINISTER_PROJECTS": ("23", "Administer Projects", "PROJECT"),
    "ADMINISTER": ("0", "Administer Jira", "GLOBAL"),
    "SYSTEM_ADMIN": ("44", "Administer Jira", "GLOBAL"),
}
ADMIN_ONLY = {"ADMINISTER", "ADMINISTER_PROJECTS", "SYSTEM_ADMIN"}


def project_body(project: dict[str, Any], base: str) -> dict[str, Any]:
    pid = project["id"]
    return {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": f"{base}/rest/api/3/project/{pid}",
        "id": pid,
        "key": project["key"],
        "name": project["name"],
        "avatarUrls": avatars(f"{base}/rest/api/3/universal_avatar/view/type/project/avatar/10400"),
        "projectTypeKey": project["projectTypeKey"],
        "simplified": project.get("simplified", False),
        "style": "next-gen" if project.get("simplified") else "classic",
        "isPrivate": False,
        "properties": {},
    }


async def project_search(request: Request, state: SandboxState) -> Response:
    params = request.query_params
    try:
        start = max(0, int(params.get("startAt", 0)))
        limit = min(100, max(1, int(params.get("maxResults", 50))))
    except ValueError:
        return error(400, ["startAt and maxResults must be integers."])
    keys = {k.upper() for k in query_list(request, "keys")}
    types = set(query_list(request, "typeKey"))
    unknown = types - set(PROJECT_TYPES)
    if unknown:
        return error(400, [f"Invalid project type key: {sorted(unknown)[0]}"])
    text = (params.get("query") or "").lower()
    with state.lock:
        projects = sorted(state.jira.projects.values(), key=lambda p: str(p["key"]))
    found = [
        p
        for p in projects
        if (not keys or p["key"] in keys)
        and (not types or p["projectTypeKey"] in types)
        and (not text or text in p["key"].lower() or text in p["name"].lower())
    ]
    base = base_url(request)
    page = found[start : start + limit]
    last = start + limit >= len(found)
    here = f"{base}/rest/api/{_version(request)}/project/search"
    body: dict[str, Any] = {
        "self": f"{here}?{request.url.query}" if request.url.query else here,
        "maxResults": limit,
        "startAt": start,
        "total": len(found),
        "isLast": last,
        "values": [project_body(p, base) for p in page],
    }
    if not last:
        following = request.url.include_query_params(startAt=start + limit, maxResults=limit)
        body["nextPage"] = f"{here}?{following.query}"
    return json_response(body)


async def projects(request: Request, state: SandboxState) -> Response:
    """`GET /project` (every project, unpaged) and `GET /project/{key}` (one, or 404)."""
    wanted = request.path_params.get("key")
    with state.lock:
        found = sorted(state.jira.projects.values(), key=lambda p: str(p["key"]))
    base = base_url(request)
    if wanted is None:
        return json_response([project_body(p, base) for p in found])
    match = next((p for p in found if wanted.upper() in (p["key"], str(p["id"]))), None)
    if match is None:
        return error(404, [f"No project could be found with key '{wanted}'."])
    return json_response(project_body(match, base))


async def my_permissions(request: Request, state: SandboxState) -> Response:
    """The user's permissions among `permissions` (required since 2019), in the context of
    a project or issue when one is named. Only an admin (tenant `jira_admin`) holds the
    administration permissions."""
    asked = query_list(request, "permissions")
    if not asked:
        return error(400, ["The 'permissions' query parameter is required."])
    unknown = [p for p in asked if p not in PERMISSIONS]
    if unknown:
        return error(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    project = request.query_params.get("projectKey")
    with state.lock:
        if project and project.upper() not in state.jira.projects:
            return error(404, [f"No project could be found with key '{project}'."])
        admin = state.tenant.jira_admin
    return json_response(
        {
            "permissions": {
                key: {
                    "id": PERMISSIONS[key][0],
                    "key": key,
                    "name": PERMISSIONS[key][1],
                    "type": PERMISSIONS[key][2],
                    "description": f"Ability to {PERMISSIONS[key][1].lower()}.",
                    "havePermission": admin or key not in ADMIN_ONLY,
                }
                for key in asked
            }
        }
    )


async def not_found(request: Request) -> Response:
    """Jira answers a path it does not serve with its JSON error, not plain text."""
    root = request.scope.get("root_path", "")
    path = request.url.path.removeprefix(root) if root else request.url.path
    return error(404, [f"null for uri: {base_url(request)}{path}"])


def _version(request: Request) -> str:
    return "2" if "/rest/api/2/" in request.url.path else "3"
