"""The sandbox's own endpoints under /_sandbox (no auth): health, request counts, the
planted truth, reset, settings, malformed-record report, and record injection, update and
delete through each tool's own semantics."""

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import activity, malformed, traffic, webhooks_out
from sandbox.admin_records import KINDS, Kind, derived
from sandbox.state import SETTINGS, SandboxState
from sandbox.timefmt import parse_time, utcnow
from sandbox.web import json_response, read_json
from sandbox.world import PROJECT


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


async def health(request: Request) -> Response:
    state = _state(request)
    return json_response(
        {"status": "ok", "seed": state.seed, "scale": state.scale, "tenant": state.tenant.as_dict()}
    )


async def requests(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.counters.clear()
    return json_response(state.counters.snapshot())


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def _findable(state: SandboxState, link: Any) -> bool:
    """A planted link the tenant's tools can show: keys typed on a deal need the custom
    property that holds them."""
    if link.method == "deal_field" and link.source == "hubspot":
        return state.tenant.hubspot_issue_keys_property
    return True


def truth(state: SandboxState) -> dict[str, Any]:
    world = state.world
    return {
        "project": PROJECT,
        "links": [asdict(link) for link in world.truth if _findable(state, link)],
        "accounts": [
            {
                "name": a.name,
                "domain": a.domains[0],
                "zendesk_organization_id": _id(a.zendesk_org_id),
                "intercom_company_id": a.intercom_company_id,
                "freshdesk_company_id": _id(a.freshdesk_company_id),
                "hubspot_company_id": a.hubspot_company_id,
                "salesforce_account_id": a.salesforce_account_id,
            }
            for a in world.accounts
        ],
    }


async def truth_endpoint(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        return json_response(truth(state))


async def reset(request: Request) -> Response:
    state = _state(request)
    ok, body = await read_json(request)
    body = body if ok and isinstance(body, dict) else {}
    seed, scale = body.get("seed", state.seed), body.get("scale", state.scale)
    for name, value in (("seed", seed), ("scale", scale)):
        if not isinstance(value, int) or isinstance(value, bool) or (name == "scale" and value < 1):
            return _bad(f"{name} must be {'a positive' if name == 'scale' else 'an'} integer")
    state.load(seed, scale=scale)
    state.counters.clear()
    return json_response({"status": "ok", "seed": seed, "scale": scale})


def _with_body(request: Request, body: bytes) -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


async def config(request: Request) -> Response:
    """GET every setting, or POST some: the world's (search_lag_s, malformed_rate,
    salesforce_daily_limit, salesforce_session_s), the webhook sender's (webhook_url,
    webhook_secrets, webhook_drop, ...; sandbox.webhooks_out) and the traffic middleware's
    (rate limits and faults, which sandbox.traffic owns and validates). Nothing is applied when
    any of them is refused."""
    state = _state(request)
    ok, body = await read_json(request) if request.method == "POST" else (True, {})
    if not ok or not isinstance(body, dict):
        return _bad("expected a JSON object of settings")
    mine = {k: v for k, v in body.items() if k in SETTINGS}
    hooks = {k: v for k, v in body.items() if k in webhooks_out.SETTINGS}
    problem = state.check(mine) or webhooks_out.Webhooks.check(hooks)
    if problem:
        return _bad(problem)
    theirs = {k: v for k, v in body.items() if k not in SETTINGS and k not in hooks}
    if theirs:
        forwarded = _with_body(request, json.dumps(theirs).encode())
    else:
        forwarded = Request({**request.scope, "method": "GET"})
    answer = await traffic.config(forwarded)
    if answer.status_code != 200:
        return answer
    state.configure(mine)
    sender: webhooks_out.Webhooks = request.app.state.webhooks
    sender.configure(hooks)
    return json_response(
        {**json.loads(bytes(answer.body)), **state.settings(), **sender.settings()}
    )


async def faults(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        report = malformed.report(state)
    # `injected`: the traffic middleware's faults (also at /_sandbox/faults/injected).
    return json_response({"malformed": report, "injected": traffic.injected(request)})


def _target(body: Any, with_id: bool = True) -> tuple[Kind, str, str] | str:
    """The (kind, tool, kind name) a request names, or an error message."""
    if not isinstance(body, dict):
        return "expected a JSON object"
    tool, name = str(body.get("tool", "")).lower(), str(body.get("kind", "")).lower()
    kind = KINDS.get((tool, name))
    if kind is None:
        return f"expected tool/kind in {sorted(f'{t}/{k}' for t, k in KINDS)}"
    if with_id and body.get("id") is None:
        return "expected the record's id (a Jira issue's key)"
    return kind, tool, name


async def inject(request: Request) -> Response:
    """Store a record exactly as given, so tests can plant malformed data."""
    ok, body = await read_json(request)
    target = _target(body if ok else None, with_id=False)
    if isinstance(target, str):
        return _bad(target)
    kind, tool, _ = target
    record = body.get("record")
    if not isinstance(record, dict) or kind.id_field not in record:
        return _bad(f"expected a record with its {kind.id_field}")
    state = _state(request)
    with state.lock:
        key = kind.key(record[kind.id_field])
        kind.records(state)[key] = record
        state.touch(tool, kind.index_key(key))
    return json_response({"status": "ok"})


async def update(request: Request) -> Response:
    """Change a record as its tool would: apply `changes`, recompute what the tool derives,
    and move its updated timestamp to now (or to `at`, so many records can share one)."""
    ok, body = await read_json(request)
    target = _target(body if ok else None)
    if isinstance(target, str):
        return _bad(target)
    kind, tool, name = target
    changes = body.get("changes") or {}
    at = parse_time(body["at"]) if "at" in body else utcnow()
    if not isinstance(changes, dict) or at is None:
        return _bad("expected `changes` as an object and `at` as an ISO 8601 time")
    state = _state(request)
    with state.lock:
        key = kind.key(body["id"])
        record = kind.records(state).get(key)
        if record is None:
            return json_response({"error": f"no {tool} {name} {body['id']}"}, 404)
        values = derived(tool, name, changes, at)
        (record.setdefault(kind.nested, {}) if kind.nested else record).update(values)
        kind.stamp(record, at)
        state.touch(tool, kind.index_key(key))
    return json_response({"status": "ok"})


async def delete(request: Request) -> Response:
    """Delete (or archive) a record the way its tool does."""
    ok, body = await read_json(request)
    target = _target(body if ok else None)
    if isinstance(target, str):
        return _bad(target)
    kind, tool, name = target
    if kind.delete is None:
        return _bad(f"deleting a {tool} {name} is not emulated")
    state = _state(request)
    with state.lock:
        key = kind.key(body["id"])
        if key not in kind.records(state):
            return json_response({"error": f"no {tool} {name} {body['id']}"}, 404)
        kind.delete(state, key, utcnow())
        state.touch(tool, kind.index_key(key))
    return json_response({"status": "ok"})


def routes() -> list[BaseRoute]:
    return [
        *[r for r in traffic.routes() if getattr(r, "path", "") != "/config"],
        Route("/health", health, methods=["GET"]),
        Route("/requests", requests, methods=["GET", "DELETE"]),
        Route("/truth", truth_endpoint, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/config", config, methods=["GET", "POST"]),
        Route("/faults", faults, methods=["GET"]),
        Route("/inject", inject, methods=["POST"]),
        Route("/update", update, methods=["POST"]),
        Route("/delete", delete, methods=["POST"]),
        *activity.routes(),
        *webhooks_out.routes(),
    ]
