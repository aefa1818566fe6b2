"""Salesforce REST API, mounted under /salesforce (an org's instance URL): OAuth client
credentials and refresh tokens, SOQL query/queryAll with cursors (and convertCurrency in a
multi-currency org), describe and describe global, the versions list, limits, sObject reads
and Task creation. Each answer is the tenant profile's org (sandbox.salesforce_meta); an
unknown resource answers Salesforce's JSON error, not plain text.

The refresh-token grant (the secret is optional there, as the OAuth refresh token flow
documents): a sandbox has no browser login to issue refresh tokens, so a client that
authenticates with its secret may bring any non-empty one (the one a connector was configured
with); without the secret only REFRESH_TOKEN below is taken."""

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox import salesforce_bulk, soql
from sandbox import salesforce_meta as meta
from sandbox.salesforce_data import ORG_ID, SCHEMA, USER_ID, QueryCursor, sf_time
from sandbox.salesforce_query import errors as _errors
from sandbox.salesforce_query import records_of as _records
from sandbox.salesforce_query import render as _render
from sandbox.salesforce_query import select
from sandbox.state import SandboxState
from sandbox.timefmt import utcnow
from sandbox.web import (
    any_other_path,
    base_url,
    basic_credentials,
    bearer_token,
    endpoint,
    json_response,
    read_json,
)

CLIENT_ID, CLIENT_SECRET = "demo@example.com", "sandbox"
REFRESH_TOKEN = "5Aep861sandboxRefreshTokenForDemoExampleCom"
VERSION = re.compile(r"v(\d{2})\.0")
LOWEST, HIGHEST = 20, 63
BATCH_DEFAULT, BATCH_MIN = 2000, 200
READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}


def _open(request: Request) -> None:
    return None  # every Salesforce route checks its session itself, after counting usage


async def token(request: Request, state: SandboxState) -> Response:
    """OAuth 2.0 client credentials (the client authenticates in the form or by Basic), or
    a refresh token (the secret is optional there)."""
    form = dict(parse_qsl((await request.body()).decode(errors="replace")))
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    grant = form.get("grant_type")
    if grant not in ("client_credentials", "refresh_token"):
        return json_response(
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            400,
        )
    client = basic_credentials(request) or (form.get("client_id"), form.get("client_secret"))
    secret_ok = client[1] == CLIENT_SECRET or (grant == "refresh_token" and client[1] is None)
    if client[0] != CLIENT_ID or not secret_ok:
        return json_response(
            {"error": "invalid_client", "error_description": "invalid client credentials"}, 400
        )
    refresh = form.get("refresh_token") or ""
    known = refresh == REFRESH_TOKEN or (bool(refresh.strip()) and client[1] == CLIENT_SECRET)
    if grant == "refresh_token" and not known:
        return json_response(
            {"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400
        )
    access = f"{ORG_ID[:15]}!AR{secrets.token_urlsafe(72)}"
    issued = str(int(time.time() * 1000))
    instance = base_url(request)
    signature = hmac.new(CLIENT_SECRET.encode(), f"{instance}/id{issued}".encode(), hashlib.sha256)
    with state.lock:
        state.salesforce.sessions[access] = time.time()
    return json_response(
        {
            "access_token": access,
            "signature": base64.b64encode(signature.digest()).decode(),
            "scope": "api",
            "instance_url": instance,
            "id": f"{instance}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer",
            "issued_at": issued,
        }
    )


def _api(handler: Any) -> Any:
    """Session check, the daily request limit, and `Sforce-Limit-Info` on every answer."""

    async def run(request: Request, state: SandboxState) -> Response:
        version = VERSION.fullmatch(request.path_params.get("version", ""))
        if not version or not LOWEST <= int(version.group(1)) <= HIGHEST:
            return _errors(404, "The requested resource does not exist", "NOT_FOUND")
        with state.lock:
            issued = state.salesforce.sessions.get(bearer_token(request) or "")
            if issued is None or time.time() - issued > state.salesforce_session_s:
                return _errors(401, "Session expired or invalid", "INVALID_SESSION_ID")
            state.salesforce.api_usage += 1
            usage, limit = state.salesforce.api_usage, state.salesforce_daily_limit
        if usage > limit:  # the daily limit is a 403, not a 429: waiting minutes won't help
            response = _errors(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
        else:
            response = await handler(request, state)
        response.headers["Sforce-Limit-Info"] = f"api-usage={usage}/{limit}"
        return response

    return run


def _page(
    state: SandboxState, cursor: QueryCursor, offset: int, version: str, endpoint: str
) -> dict[str, Any]:
    records = _records(state, cursor.sobject)
    chunk = [records[i] for i in cursor.ids[offset : offset + cursor.batch] if i in records]
    body: dict[str, Any] = {
        "totalSize": len(cursor.ids),
        "done": offset + cursor.batch >= len(cursor.ids),
        "records": [_render(state, r, cursor.sobject, cursor.columns, version) for r in chunk],
    }
    if not body["done"]:
        locator = next((k for k, v in state.salesforce.cursors.items() if v is cursor), None)
        locator = locator or state.salesforce.open_cursor(cursor)
        body["nextRecordsUrl"] = (
            f"/services/data/{version}/{endpoint}/{locator}-{offset + cursor.batch}"
        )
    else:  # the last batch closes the cursor
        for key in [k for k, v in state.salesforce.cursors.items() if v is cursor]:
            del state.salesforce.cursors[key]
    return body


def _batch_size(request: Request) -> int:
    """`Sforce-Query-Options: batchSize=N`: a request, not a promise, kept within 200-2000."""
    match = re.search(r"batchSize\s*=\s*(\d+)", request.headers.get("sforce-query-options", ""))
    return min(BATCH_DEFAULT, max(BATCH_MIN, int(match.group(1)))) if match else BATCH_DEFAULT


def _query(include_deleted: bool) -> Any:
    endpoint = "queryAll" if include_deleted else "query"

    async def run(request: Request, state: SandboxState) -> Response:
        selected = select(state, request.query_params.get("q", ""), include_deleted)
        if isinstance(selected, Response):
            return selected
        query, ids = selected
        with state.lock:
            cursor = QueryCursor(query.sobject, query.columns, ids, _batch_size(request))
            body = _page(state, cursor, 0, request.path_params["version"], endpoint)
        return json_response(body)

    async def more(request: Request, state: SandboxState) -> Response:
        locator, _, offset = request.path_params["locator"].rpartition("-")
        with state.lock:
            cursor = state.salesforce.cursors.get(locator)
            if cursor is None or not offset.isdigit():
                return _errors(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
            body = _page(state, cursor, int(offset), request.path_params["version"], endpoint)
        return json_response(body)

    return run, more


async def sobject(request: Request, state: SandboxState) -> Response:
    kind, rid = request.path_params["sobject"], request.path_params["id"]
    with state.lock:
        record = state.salesforce.records.get(kind, {}).get(rid)
        if record is None:
            return _errors(404, "The requested resource does not exist", "NOT_FOUND")
        if record.get("IsDeleted"):
            return _errors(404, "entity is deleted", "ENTITY_IS_DELETED")
        columns = [soql.Column(name, name) for name in meta.schema_for(state.tenant)[kind]]
        body = _render(state, record, kind, columns, request.path_params["version"])
    return json_response(body)


async def create_task(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict):
        return _errors(400, "Unexpected character: expected a JSON object", "JSON_PARSER_ERROR")
    unknown = [k for k in body if k not in SCHEMA["Task"] or k in READ_ONLY]
    if unknown:
        return _errors(
            400, f"No such column '{unknown[0]}' on sobject of type Task", "INVALID_FIELD"
        )
    now = sf_time(utcnow())
    with state.lock:
        what = body.get("WhatId")
        live = [state.salesforce.records[k].get(str(what)) for k in ("Opportunity", "Account")]
        if what is not None and not any(r and not r.get("IsDeleted") for r in live):
            return _errors(
                400,
                f"What ID: id value of incorrect type: {what}",
                "FIELD_INTEGRITY_EXCEPTION",
                fields=["WhatId"],
            )
        tid = state.salesforce.new_id("Task")
        # (unconfirmed) logging a task does not move the opportunity's SystemModstamp.
        state.salesforce.records["Task"][tid] = {
            "Status": "Not Started",
            "Priority": "Normal",
            **body,
            "Id": tid,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "IsDeleted": False,
        }
    return json_response({"id": tid, "success": True, "errors": []}, 201)


async def describe_global(request: Request, state: SandboxState) -> Response:
    return json_response(meta.describe_global(state.tenant, request.path_params["version"]))


async def describe(request: Request, state: SandboxState) -> Response:
    sobject = request.path_params["sobject"]
    body = meta.describe(state.tenant, sobject, request.path_params["version"])
    if body is None:
        return _errors(
            404, f"The requested resource does not exist: sObject type '{sobject}'", "NOT_FOUND"
        )
    return json_response(body)


async def org_limits(request: Request, state: SandboxState) -> Response:
    with state.lock:
        used, daily = state.salesforce.api_usage, state.salesforce_daily_limit
    return json_response(meta.limits(used, daily))


async def versions(request: Request, state: SandboxState) -> Response:
    """Needs no session, and does not count against the daily limit."""
    return json_response(meta.versions(LOWEST, HIGHEST))


async def not_found(request: Request) -> Response:
    return _errors(404, "The requested resource does not exist", "NOT_FOUND")


def routes() -> list[BaseRoute]:
    query, query_more = _query(False)
    query_all, query_all_more = _query(True)
    api = "/services/data/{version}"
    table: list[tuple[str, str, Any]] = [
        ("GET", "/services/data", versions),
        ("GET", f"{api}/sobjects", _api(describe_global)),
        ("GET", f"{api}/sobjects/{{sobject}}/describe", _api(describe)),
        ("GET", f"{api}/limits", _api(org_limits)),
        ("GET", f"{api}/query", _api(query)),
        ("GET", f"{api}/query/{{locator}}", _api(query_more)),
        ("GET", f"{api}/queryAll", _api(query_all)),
        ("GET", f"{api}/queryAll/{{locator}}", _api(query_all_more)),
        ("GET", f"{api}/sobjects/{{sobject}}/{{id}}", _api(sobject)),
        ("POST", f"{api}/sobjects/Task", _api(create_task)),
        ("POST", "/services/oauth2/token", token),
        *((method, path, _api(handler)) for method, path, handler in salesforce_bulk.routes(api)),
    ]
    # Salesforce takes every resource with or without a trailing slash (clients send both).
    found = [
        endpoint("salesforce", method, variant, handler, _open)
        for method, path, handler in table
        for variant in (path, f"{path}/")
    ]
    # Anything else is Salesforce's JSON 404, whatever the method.
    return [*found, any_other_path(not_found)]
