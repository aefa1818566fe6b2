"""HubSpot writes and reads between records: a note created with its associations (and
the roll-ups it moves), and the v4 association reads, one record or a batch."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_data import ASSOCIATION_TYPES, NOTE_TARGETS, record, to_time
from sandbox.hubspot_portal import invalid
from sandbox.state import SandboxState
from sandbox.timefmt import hubspot_time, utcnow
from sandbox.web import json_response, read_json

SINGULAR = {"deals": "deal", "companies": "company", "notes": "note"}


async def create_note(request: Request, state: SandboxState) -> Response:
    ok, body = await read_json(request)
    props = body.get("properties") if ok and isinstance(body, dict) else None
    if not isinstance(props, dict) or props.get("hs_timestamp") in (None, ""):
        return invalid("Property values were not valid: hs_timestamp is required")
    now = utcnow()
    props = {
        **props,
        "hs_timestamp": hubspot_time(to_time(props["hs_timestamp"], now)),
        "hs_createdate": hubspot_time(now),
        "hs_lastmodifieddate": hubspot_time(now),
    }
    targets = []
    for link in body.get("associations") or []:
        try:
            target_id = str(link["to"]["id"])
            type_ids = {
                t["associationTypeId"]
                for t in link["types"]
                if t.get("associationCategory") == "HUBSPOT_DEFINED"
            }
        except (KeyError, TypeError):
            return invalid(f"Invalid association: {link!r}")
        kinds = {NOTE_TARGETS.get(t) for t in type_ids}
        if len(kinds) != 1 or None in kinds:
            return invalid(f"Unsupported association type ids {sorted(type_ids)} for notes")
        targets.append((kinds.pop() or "", target_id))
    with state.lock:
        for kind, target_id in targets:
            if target_id not in state.hubspot.objects[kind]:
                return invalid(f"Association target {SINGULAR[kind]} {target_id} not found")
        note = record(state.hubspot.new_id(), props)
        state.hubspot.objects["notes"][note["id"]] = note
        for kind, target_id in targets:
            state.hubspot.associate("notes", note["id"], kind, target_id)
            # (unconfirmed) logging an activity recalculates the record's note roll-ups,
            # which moves its hs_lastmodifieddate.
            target = state.hubspot.objects[kind][target_id]
            target["properties"].update(
                notes_last_updated=props["hs_timestamp"], hs_lastmodifieddate=hubspot_time(now)
            )
            target["updatedAt"] = hubspot_time(now)
            state.touch("hubspot", f"{kind}/{target_id}")
        state.touch("hubspot", f"notes/{note['id']}")
    return json_response(note, 201)


def _to_rows(state: SandboxState, source: str, oid: str, other: str) -> list[dict[str, Any]]:
    types = [
        {"category": "HUBSPOT_DEFINED", "typeId": t, "label": label}
        for t, label, _ in ASSOCIATION_TYPES[(source, other)]
    ]
    return [
        {"toObjectId": int(i) if i.isdigit() else i, "associationTypes": types}
        for i in state.hubspot.associated(source, oid, other)
    ]


def associations(source: str, other: str) -> tuple[Any, Any]:
    async def one(request: Request, state: SandboxState) -> Response:
        with state.lock:
            rows = _to_rows(state, source, request.path_params["id"], other)
        return json_response({"results": rows})

    async def batch(request: Request, state: SandboxState) -> Response:
        ok, body = await read_json(request)
        inputs = body.get("inputs") if ok and isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and "id" in i for i in inputs
        ):
            return invalid('Invalid input JSON: expected {"inputs": [{"id": ...}]}')
        if len(inputs) > 1000:  # (unconfirmed) documented batch limit
            return invalid("Batch read accepts at most 1000 inputs")
        started, results, errors = hubspot_time(utcnow()), [], []
        with state.lock:
            for item in inputs:
                oid = str(item["id"])
                rows = _to_rows(state, source, oid, other)
                if rows:
                    results.append({"from": {"id": oid}, "to": rows})
                else:
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                            "message": f"No {SINGULAR[other]} is associated with "
                            f"{SINGULAR[source]} ID {oid}.",
                            "context": {"fromObjectId": [oid]},
                        }
                    )
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hubspot_time(utcnow()),
        }
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return json_response(body, 207 if errors else 200)

    return one, batch
