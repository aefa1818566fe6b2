"""What hangs on a Jira issue besides its fields and comments: entity properties and
remote links."""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.jira_data import render_remote_link
from sandbox.jira_edit import property_error, value_bytes
from sandbox.jira_web import NO_ISSUE, api_version, error
from sandbox.state import SandboxState
from sandbox.timefmt import jira_time, utcnow
from sandbox.web import base_url, json_response, read_json, site_url


async def properties(request: Request, state: SandboxState) -> Response:
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        keys = list(state.jira.properties.get(str(issue.get("key")), {}))
    prefix = (
        f"{base_url(request)}/rest/api/{api_version(request)}/issue/{issue.get('id')}/properties"
    )
    return json_response({"keys": [{"self": f"{prefix}/{k}", "key": k} for k in keys]})


async def issue_property(request: Request, state: SandboxState) -> Response:
    name = request.path_params["propertyKey"]
    raw = await request.body() if request.method == "PUT" else b""
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        props = state.jira.properties.setdefault(str(issue.get("key")), {})
        if request.method == "GET":
            if name not in props:
                return error(404, [f"The property with key '{name}' does not exist."])
            return json_response({"key": name, "value": props[name]})
        if request.method == "DELETE":
            return Response(status_code=204 if props.pop(name, None) is not None else 404)
        try:
            value = json.loads(raw) if raw.strip() else None
        except ValueError:
            return error(400, ["The property value must be valid JSON."])
        problem = property_error(name, value_bytes(value) if raw.strip() else 0)
        if problem:
            return error(400, [problem])
        created = name not in props
        props[name] = value
    return Response(status_code=201 if created else 200)


async def remote_links(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request) if request.method == "POST" else (True, None)
    payload: dict[str, Any] = body if ok and isinstance(body, dict) else {}
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        key = str(issue.get("key"))
        links = state.jira.remote_links.setdefault(key, [])
        api = f"{base_url(request)}/rest/api/{api_version(request)}"
        prefix = f"{api}/issue/{issue.get('id')}/remotelink"
        if request.method == "GET":
            wanted = request.query_params.get("globalId")
            site = site_url(request)
            return json_response(
                [
                    {"self": f"{prefix}/{link['id']}", **render_remote_link(link, site)}
                    for link in links
                    if wanted is None or link.get("globalId") == wanted
                ]
            )
        target = payload.get("object")
        if not isinstance(target, dict) or not target.get("url") or not target.get("title"):
            return error(400, errors={"object": "'object' with 'url' and 'title' is required."})
        record = {
            k: v
            for k, v in payload.items()
            if k in ("globalId", "application", "relationship", "object")
        }
        # Posting an existing globalId again updates that link instead of adding one.
        same = next(
            (
                x
                for x in links
                if payload.get("globalId") and x.get("globalId") == payload.get("globalId")
            ),
            None,
        )
        changed = same is None or any(same.get(k) != v for k, v in record.items())
        if same:
            same.update(record)
        else:
            record["id"] = int(state.jira.new_id())
            links.append(record)
        if changed:  # Jira logs a remote link in the issue's history: `updated` moves
            issue.setdefault("fields", {})["updated"] = jira_time(utcnow())
            state.touch("jira", key)
        link_id = int((same or record)["id"])
    return json_response({"id": link_id, "self": f"{prefix}/{link_id}"}, 200 if same else 201)
