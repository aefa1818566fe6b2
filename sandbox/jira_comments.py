"""Jira issue comments: list (paged with startAt), add, read, edit, delete."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.jira_data import adf, render_comment
from sandbox.jira_edit import comment_error, comment_properties, new_comment
from sandbox.jira_expand import wanted as expand_options
from sandbox.jira_web import NO_ISSUE, api_version, error
from sandbox.state import SandboxState
from sandbox.timefmt import jira_time, utcnow
from sandbox.web import base_url, json_response, read_json


def _comment_input(ok: bool, body: Any, version: str) -> tuple[Any, Any, Response | None]:
    """The text and properties a comment's POST or PUT body sets, or Jira's 400 for them."""
    text = body.get("body") if ok and isinstance(body, dict) else None
    problem = comment_error(text, version)
    if problem:
        return text, None, error(400, errors={"comment": problem})
    try:
        return text, comment_properties(body.get("properties")), None
    except ValueError as exc:
        return text, None, error(400, [str(exc)])


async def list_comments(request: Request, state: SandboxState) -> Response:
    try:
        start = max(0, int(request.query_params.get("startAt", 0)))
        # (unconfirmed) Jira Cloud's documented default page is 5000 comments.
        limit = min(5000, max(1, int(request.query_params.get("maxResults", 5000))))
    except ValueError:
        return error(400, ["startAt and maxResults must be integers."])
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        comments = list(state.jira.comments.get(str(issue.get("key")), []))
    if request.query_params.get("orderBy") == "-created":
        comments.reverse()
    with_properties = "properties" in expand_options(request.query_params.get("expand"))
    page = [
        render_comment(
            c, str(issue.get("id")), api_version(request), base_url(request), with_properties
        )
        for c in comments[start : start + limit]
    ]
    return json_response(
        {"startAt": start, "maxResults": limit, "total": len(comments), "comments": page}
    )


async def add_comment(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    version = api_version(request)
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        text, props, refused = _comment_input(ok, body, version)
        if refused:
            return refused
        now = utcnow()
        comment = new_comment(state.jira, text, version, now, props)
        state.jira.comments.setdefault(str(issue.get("key")), []).append(comment)
        issue.setdefault("fields", {})["updated"] = jira_time(now)
        state.jira.mail.append((str(issue.get("key")), "comment_created"))
        state.touch("jira", issue.get("key"))
    return json_response(
        render_comment(comment, str(issue.get("id")), version, base_url(request)), 201
    )


async def comment(request: Request, state: SandboxState) -> Response:
    version = api_version(request)
    ok, body = await read_json(request) if request.method == "PUT" else (True, {})
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return error(404, [NO_ISSUE])
        comments = state.jira.comments.get(str(issue.get("key")), [])
        found = next((c for c in comments if c["id"] == request.path_params["id"]), None)
        if found is None:
            return error(404, [f"Can not find a comment for the id: {request.path_params['id']}."])
        if request.method == "DELETE":  # documented: 204, no body
            comments.remove(found)
            issue.setdefault("fields", {})["updated"] = jira_time(utcnow())
            state.touch("jira", issue.get("key"))
            return Response(status_code=204)
        if request.method == "PUT":
            text, props, refused = _comment_input(ok, body, version)
            if refused:
                return refused
            now = jira_time(utcnow())
            found.update(body=adf(str(text)) if version == "2" else text, updated=now)
            if props:
                found["properties"] = {**(found.get("properties") or {}), **props}
            issue.setdefault("fields", {})["updated"] = now
            if request.query_params.get("notifyUsers", "true").lower() != "false":
                state.jira.mail.append((str(issue.get("key")), "comment_updated"))
            state.touch("jira", issue.get("key"))
        rendered = render_comment(found, str(issue.get("id")), version, base_url(request))
    return json_response(rendered)
