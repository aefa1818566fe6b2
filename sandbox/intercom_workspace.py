"""Intercom's workspace-level lists that schema-discovering clients read before the records:
admins (`GET /admins`, `/admins/{id}`), teams, segments and data attributes, in the shapes
of Intercom's API reference (2.x): `admin.list`, `team.list`, `segment.list` and a `list` of
`data_attribute`s. The sandbox's workspace has no teams (its admins' `team_ids` are empty)
and Intercom's three default segments."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.intercom_errors import error, not_found
from sandbox.state import SandboxState
from sandbox.web import json_response

# The segments Intercom creates in every workspace (created with the workspace).
SEGMENTS = (("Active", "user"), ("New", "user"), ("Slipping away", "user"))
WORKSPACE_CREATED = 1_600_000_000  # `/me`'s app created_at
# Built-in data attributes per model: name -> data_type (the API reference's list).
BUILT_IN = {
    "contact": {
        "name": "string",
        "email": "string",
        "phone": "string",
        "external_id": "string",
        "role": "string",
        "created_at": "date",
        "updated_at": "date",
        "signed_up_at": "date",
        "last_seen_at": "date",
        "owner_id": "integer",
        "unsubscribed_from_emails": "boolean",
        "companies": "string",
    },
    "company": {
        "name": "string",
        "company_id": "string",
        "created_at": "date",
        "updated_at": "date",
        "remote_created_at": "date",
        "last_request_at": "date",
        "plan": "string",
        "size": "integer",
        "website": "string",
        "industry": "string",
        "monthly_spend": "float",
        "session_count": "integer",
        "user_count": "integer",
    },
    "conversation": {"title": "string", "state": "string", "priority": "string"},
}


async def list_admins(request: Request, state: SandboxState) -> Response:
    with state.lock:
        admins = sorted(state.intercom.admins.values(), key=lambda a: str(a["id"]))
    return json_response({"type": "admin.list", "admins": admins})


async def show_admin(request: Request, state: SandboxState) -> Response:
    with state.lock:
        found = state.intercom.admins.get(request.path_params["id"])
    return json_response(found) if found is not None else not_found()


async def list_teams(request: Request, state: SandboxState) -> Response:
    return json_response({"type": "team.list", "teams": []})


async def list_segments(request: Request, state: SandboxState) -> Response:
    segments: list[dict[str, Any]] = [
        {
            "type": "segment",
            "id": f"5{index:023x}",
            "name": name,
            "created_at": WORKSPACE_CREATED,
            "updated_at": WORKSPACE_CREATED,
            "person_type": person,
        }
        for index, (name, person) in enumerate(SEGMENTS, start=1)
    ]
    return json_response({"type": "segment.list", "segments": segments})


def _custom(state: SandboxState, model: str) -> dict[str, str]:
    """The custom attributes the workspace's records carry, typed by their values."""
    store = state.intercom
    records = {
        "contact": store.contacts,
        "company": store.companies,
        "conversation": store.conversations,
    }[model]
    found: dict[str, str] = {}
    for record in records.values():
        for name, value in (record.get("custom_attributes") or {}).items():
            kind = {bool: "boolean", int: "integer", float: "float"}.get(type(value), "string")
            found.setdefault(name, kind)
    return found


def _attribute(model: str, name: str, data_type: str, custom: bool) -> dict[str, Any]:
    full = f"custom_attributes.{name}" if custom else name
    return {
        "type": "data_attribute",
        "name": name,
        "full_name": full,
        "label": name.replace("_", " ").capitalize(),
        "description": "",
        "data_type": data_type,
        "api_writable": custom or name not in ("created_at", "updated_at"),
        "ui_writable": custom,
        "messenger_writable": False,
        "custom": custom,
        "archived": False,
        "model": model,
        **({"created_at": WORKSPACE_CREATED, "updated_at": WORKSPACE_CREATED} if custom else {}),
    }


async def list_data_attributes(request: Request, state: SandboxState) -> Response:
    """`?model=contact|company|conversation` (every model when absent)."""
    model = request.query_params.get("model")
    if model is not None and model not in BUILT_IN:
        return error(400, "parameter_invalid", "model must be contact, company or conversation")
    data = []
    with state.lock:
        for name in [model] if model else list(BUILT_IN):
            data += [_attribute(name, n, t, False) for n, t in BUILT_IN[name].items()]
            data += [_attribute(name, n, t, True) for n, t in _custom(state, name).items()]
    return json_response({"type": "list", "data": data})
