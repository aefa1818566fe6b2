"""The sandbox's own endpoints under /_sandbox (no auth): health, request counts, the
planted truth, reset and raw record injection."""

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.state import SandboxState
from sandbox.web import json_response, read_json
from sandbox.world import PROJECT
from sandbox.zendesk_data import record_key

# (tool, kind) -> (store attribute path, field holding the record's id)
INJECTABLE = {
    ("jira", "issue"): ("jira", "issues", "key"),
    ("zendesk", "ticket"): ("zendesk", "tickets", "id"),
    ("zendesk", "user"): ("zendesk", "users", "id"),
    ("zendesk", "organization"): ("zendesk", "organizations", "id"),
    ("hubspot", "deal"): ("hubspot", "deals", "id"),
    ("hubspot", "company"): ("hubspot", "companies", "id"),
}


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def health(request: Request) -> Response:
    return json_response({"status": "ok", "seed": _state(request).seed})


async def requests(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.counters.clear()
    return json_response(state.counters.snapshot())


def truth(state: SandboxState) -> dict[str, Any]:
    world = state.world
    return {
        "project": PROJECT,
        "links": [asdict(link) for link in world.truth],
        "accounts": [
            {
                "name": a.name,
                "domain": a.domains[0],
                "zendesk_organization_id": None
                if a.zendesk_org_id is None
                else str(a.zendesk_org_id),
                "hubspot_company_id": a.hubspot_company_id,
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
    seed = body.get("seed", state.seed) if ok and isinstance(body, dict) else state.seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        return json_response({"error": "seed must be an integer"}, 400)
    state.load(seed)
    state.counters.clear()
    return json_response({"status": "ok", "seed": seed})


async def inject(request: Request) -> Response:
    """Store a record exactly as given, so tests can plant malformed data."""
    ok, body = await read_json(request)
    if not ok or not isinstance(body, dict):
        return json_response({"error": "expected a JSON object"}, 400)
    target = INJECTABLE.get((body.get("tool"), body.get("kind")))  # type: ignore[arg-type]
    record = body.get("record")
    if target is None or not isinstance(record, dict) or target[2] not in record:
        kinds = sorted(f"{tool}/{kind}" for tool, kind in INJECTABLE)
        return json_response(
            {"error": f"expected tool/kind in {kinds} and a record with its id or key"}, 400
        )
    tool, collection, id_field = target
    state = _state(request)
    with state.lock:
        if tool == "hubspot":
            state.hubspot.objects[collection][str(record[id_field])] = record
        elif tool == "jira":
            state.jira.issues[str(record[id_field]).upper()] = record
        else:
            getattr(state.zendesk, collection)[record_key(record[id_field])] = record
    return json_response({"status": "ok"})


def routes() -> list[BaseRoute]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/requests", requests, methods=["GET", "DELETE"]),
        Route("/truth", truth_endpoint, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/inject", inject, methods=["POST"]),
    ]
