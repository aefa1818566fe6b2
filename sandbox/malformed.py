"""Malformed records: with `malformed_rate` above zero, a fixed subset of every feedback and
deal stream is served with one broken field, as real exports sometimes are.

Which records, and which field, follow from a hash of (seed, tool, id): the same records on
every read, whichever endpoint serves them. The stored record stays intact, so filters,
ordering and cursors behave as for any other record; only what goes over the wire breaks.
"""

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# (tool, kind) -> the fields that may break and what they break into. Each value is one a
# connector must refuse: an impossible date, a number that is not one.
BREAKS: dict[tuple[str, str], tuple[tuple[str, Any], ...]] = {
    ("zendesk", "ticket"): (("updated_at", "0000-00-00T00:00:00Z"),),
    ("intercom", "conversation"): (("updated_at", "NaN"),),
    ("freshdesk", "ticket"): (("updated_at", "0000-00-00T00:00:00Z"),),
    ("hubspot", "deal"): (
        ("amount", "12,500.00 USD"),
        ("hs_lastmodifieddate", "0000-00-00T00:00:00.000Z"),
    ),
    ("salesforce", "opportunity"): (
        ("Amount", "12.500,00"),
        ("SystemModstamp", "0000-00-00T00:00:00.000+0000"),
    ),
}


def broken_field(state: "SandboxState", tool: str, kind: str, record_id: Any) -> str | None:
    """The field this record is served with broken, or None when it is served intact."""
    if state.malformed_rate <= 0:
        return None
    digest = hashlib.blake2b(f"{state.seed}:{tool}:{record_id}".encode(), digest_size=9).digest()
    if int.from_bytes(digest[:8]) / 2**64 >= state.malformed_rate:
        return None
    options = BREAKS[(tool, kind)]
    return options[digest[8] % len(options)][0]


def serve(
    state: "SandboxState", tool: str, kind: str, record_id: Any, record: dict[str, Any]
) -> dict[str, Any]:
    """The record as it goes over the wire: a copy with its broken field, or itself.
    HubSpot keeps its fields under `properties`; the broken one is set even when the
    request did not ask for it."""
    name = broken_field(state, tool, kind, record_id)
    if name is None:
        return record
    value = dict(BREAKS[(tool, kind)])[name]
    if tool == "hubspot":
        return {**record, "properties": {**(record.get("properties") or {}), name: value}}
    return {**record, name: value}


def report(state: "SandboxState") -> list[dict[str, Any]]:
    """Every live record of every stream that is served broken, for GET /_sandbox/faults."""
    streams = {
        ("zendesk", "ticket"): [
            t for t in state.zendesk.tickets.values() if t.get("status") != "deleted"
        ],
        ("intercom", "conversation"): list(state.intercom.conversations.values()),
        ("freshdesk", "ticket"): [
            t for t in state.freshdesk.tickets.values() if not t.get("deleted")
        ],
        ("hubspot", "deal"): list(state.hubspot.objects["deals"].values()),
        ("salesforce", "opportunity"): [
            r for r in state.salesforce.records["Opportunity"].values() if not r.get("IsDeleted")
        ],
    }
    found = []
    for (tool, kind), records in streams.items():
        for record in records:
            rid = str(record.get("Id" if tool == "salesforce" else "id"))
            name = broken_field(state, tool, kind, rid)
            if name:
                found.append({"tool": tool, "kind": kind, "id": rid, "field": name})
    return found
