"""Simulated users: `POST /_sandbox/activity {"kind": ..., "count": n, "seed": s}`.

Each step is something people do in the tools every day, made the way the tool would make
it (the record in the tool's own shape, its timestamps moved), recorded in the planted
truth when it links something to an issue, and announced by the tool's webhook:

- open_ticket: a customer opens a ticket (Zendesk, Freshdesk) or conversation (Intercom)
  citing an issue key;
- tag_issue: an agent links a Zendesk ticket to an issue through Zendesk's Jira app (which
  tags the ticket `jira_escalated`);
- move_deal: a rep moves a HubSpot or Salesforce deal to another stage;
- cite_in_deal: a rep names an issue in a deal's Jira field;
- resolve_issue: an engineer moves an issue to Done;
- close_ticket: an agent solves a ticket;
- delete_ticket: an agent deletes a ticket;
- mixed: any of the above, most often the first three.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import freshdesk_data, intercom_data, zendesk_data
from sandbox.admin_records import KINDS, derived
from sandbox.hubspot_data import STAGE_PROBABILITY
from sandbox.salesforce_data import STAGES
from sandbox.timefmt import hubspot_time, zendesk_time
from sandbox.web import base_url, json_response, read_json
from sandbox.webhook_capture import record_changed, webhooks_of
from sandbox.webhooks_out import Delivery
from sandbox.world_activity import OPEN_STAGES, _text
from sandbox.world_model import Feedback, TruthLink

if TYPE_CHECKING:
    from sandbox.state import SandboxState

Change = dict[str, Any]
Step = Callable[["SandboxState", random.Random, str], tuple[Change, list[Delivery]]]
MAX_COUNT = 1000
FEEDBACK_KIND = {"zendesk": "ticket", "freshdesk": "ticket", "intercom": "conversation"}


def _now() -> datetime:
    return datetime.now(UTC)


def _change(
    state: SandboxState, tool: str, kind: str, key: Any, changes: dict[str, Any], base: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[Delivery]]:
    """Apply `changes` the way /_sandbox/update does; the record before and after, and the
    tool's webhooks for it."""
    spec = KINDS[(tool, kind)]
    record = spec.records(state)[key]
    before = copy.deepcopy(record)
    now = _now()
    values = derived(tool, kind, changes, now)
    (record.setdefault(spec.nested, {}) if spec.nested else record).update(values)
    spec.stamp(record, now)
    state.touch(tool, spec.index_key(key))
    after = copy.deepcopy(record)
    hook_kind = "opportunity" if tool == "salesforce" else kind
    return before, after, record_changed(state, tool, hook_kind, before, after, base)


def _plant(state: SandboxState, link: TruthLink, item: Feedback | None = None) -> None:
    world = state.world
    feedback = world.feedback + ((item,) if item else ())
    state.world = replace(world, feedback=feedback, truth=world.truth + (link,))


def _new_feedback_id(state: SandboxState, tool: str, rng: random.Random) -> int:
    if tool == "zendesk":
        return max((k for k in state.zendesk.tickets if isinstance(k, int)), default=1000) + 1
    if tool == "freshdesk":
        return max((k for k in state.freshdesk.tickets if isinstance(k, int)), default=10**5) + 1
    ids = [int(k) for k in state.intercom.conversations if str(k).isdigit()]
    return max(ids, default=215_460_000_000_000) + rng.randint(1, 900_000)


def open_ticket(
    state: SandboxState, rng: random.Random, base: str
) -> tuple[Change, list[Delivery]]:
    world = state.world
    tool = rng.choice(("zendesk", "intercom", "freshdesk"))
    people = [p for p in world.people if p.tool == tool and p.role == "end-user"]
    customers = [p for p in people if p.account is not None]
    requester = rng.choice(customers if customers and rng.random() < 0.9 else people)
    agents = [p for p in world.people if p.tool == tool and p.role == "agent"]
    issue = rng.choice(world.issues)
    subject, description, tags = _text(rng, "cited_key", issue, issue, requester.name.split()[0])
    plan = world.accounts[requester.account].plan if requester.account is not None else None
    now = _now()
    item = Feedback(
        tool=tool,
        id=_new_feedback_id(state, tool, rng),
        subject=subject,
        description=description,
        status="new",
        priority=rng.choice(("low", "normal", "high")),
        type="question",
        tags=tuple(tags + ([plan] if plan else [])),
        requester_id=requester.id,
        account=requester.account,
        assignee_id=rng.choice(agents).id if agents else 0,
        channel=rng.choice(("web", "email")),
        created=now,
        updated=now,
    )
    # The tool's own builder shapes the record, from a world holding just this item.
    alone = replace(world, feedback=(item,), jira_links=())
    record: dict[str, Any]
    if tool == "zendesk":
        built = zendesk_data.build(alone)
        record = built.tickets[item.id]
        comments = built.comments[item.id]
        for comment in comments:
            comment["id"] = state.zendesk.new_id()
        state.zendesk.tickets[item.id] = record
        state.zendesk.comments[item.id] = comments
    elif tool == "intercom":
        record = intercom_data.build(alone).conversations[str(item.id)]
        state.intercom.conversations[str(item.id)] = record
    else:
        record = freshdesk_data.build(alone).tickets[item.id]
        state.freshdesk.tickets[item.id] = record
    state.touch(tool, item.id)
    _plant(state, TruthLink(tool, "feedback", str(item.id), issue.key, "cited_key"), item)
    kind = FEEDBACK_KIND[tool]
    deliveries = record_changed(state, tool, kind, None, copy.deepcopy(record), base)
    change = {"tool": tool, "kind": kind, "id": str(item.id), "issue_key": issue.key}
    return change, deliveries


def tag_issue(state: SandboxState, rng: random.Random, base: str) -> tuple[Change, list[Delivery]]:
    linked = {(t.record_id, t.issue_key) for t in state.world.truth if t.source == "zendesk"}
    tickets = [
        t
        for t in state.zendesk.tickets.values()
        if t.get("status") not in ("deleted", "closed") and isinstance(t.get("id"), int)
    ]
    for _ in range(50):
        ticket, issue = rng.choice(tickets), rng.choice(state.world.issues)
        if (str(ticket["id"]), issue.key) not in linked:
            break
    else:
        return {"skipped": "every ticket is linked already"}, []
    stamp = zendesk_time(_now())
    links = state.zendesk.jira_links
    links.append(
        {
            "id": max((link["id"] for link in links), default=9000) + 1,
            "ticket_id": ticket["id"],
            "issue_id": issue.id,
            "issue_key": issue.key,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    tags = list(dict.fromkeys([*(ticket.get("tags") or []), "jira_escalated"]))
    _, _, deliveries = _change(state, "zendesk", "ticket", ticket["id"], {"tags": tags}, base)
    _plant(
        state, TruthLink("zendesk", "feedback", str(ticket["id"]), issue.key, "zendesk_jira_link")
    )
    change = {"tool": "zendesk", "kind": "ticket", "id": str(ticket["id"]), "issue_key": issue.key}
    return change, deliveries


def _deals(state: SandboxState) -> list[tuple[str, str, dict[str, Any]]]:
    hubspot = [("hubspot", k, d) for k, d in state.hubspot.objects["deals"].items()]
    salesforce = [
        ("salesforce", k, d)
        for k, d in state.salesforce.records["Opportunity"].items()
        if not d.get("IsDeleted")
    ]
    return hubspot + salesforce


def _stage_of(tool: str, deal: dict[str, Any]) -> str:
    if tool == "hubspot":
        return str((deal.get("properties") or {}).get("dealstage"))
    names = {name: key for key, (name, _) in STAGES.items()}
    return names.get(str(deal.get("StageName")), "")


def move_deal(state: SandboxState, rng: random.Random, base: str) -> tuple[Change, list[Delivery]]:
    tool, key, deal = rng.choice(_deals(state))
    current = _stage_of(tool, deal)
    if current in OPEN_STAGES and rng.random() < 0.5:
        stage = rng.choice(("closedwon", "closedlost"))
    else:
        stage = rng.choice([s for s in OPEN_STAGES if s != current])
    now = _now()
    closed = stage in ("closedwon", "closedlost")
    if tool == "hubspot":
        changes: dict[str, Any] = {"dealstage": stage}
        if closed:
            changes["closedate"] = hubspot_time(now)
        kind = "deal"
    else:
        changes = {"StageName": STAGES[stage][0]}
        if closed:
            changes["CloseDate"] = now.strftime("%Y-%m-%d")
        kind = "opportunity"
    _, _, deliveries = _change(state, tool, kind, key, changes, base)
    assert stage in STAGE_PROBABILITY
    return {"tool": tool, "kind": "deal", "id": str(key), "stage": stage}, deliveries


def cite_in_deal(
    state: SandboxState, rng: random.Random, base: str
) -> tuple[Change, list[Delivery]]:
    tool, key, deal = rng.choice(_deals(state))
    issue = rng.choice(state.world.issues)
    if tool == "hubspot":
        field, kind = "jira_issue_keys", "deal"
        current = (deal.get("properties") or {}).get(field) or ""
    else:
        field, kind = "Jira_Issue_Keys__c", "opportunity"
        current = deal.get(field) or ""
    keys = [k for k in str(current).replace(",", ";").split(";") if k.strip()]
    if issue.key not in keys:
        keys.append(issue.key)
        _plant(state, TruthLink(tool, "deal", str(key), issue.key, "deal_field"))
    _, _, deliveries = _change(state, tool, kind, key, {field: ";".join(keys)}, base)
    return {"tool": tool, "kind": "deal", "id": str(key), "issue_key": issue.key}, deliveries


def resolve_issue(
    state: SandboxState, rng: random.Random, base: str
) -> tuple[Change, list[Delivery]]:
    asked = {t.issue_key for t in state.world.truth}
    open_issues = [
        key
        for key, issue in state.jira.issues.items()
        if ((issue.get("fields") or {}).get("status") or {}).get("name") != "Done"
    ]
    if not open_issues:
        return {"skipped": "every issue is done"}, []
    wanted = [key for key in open_issues if key in asked]
    key = rng.choice(wanted or open_issues)
    _, _, deliveries = _change(state, "jira", "issue", key, {"status": "Done"}, base)
    return {"tool": "jira", "kind": "issue", "id": key, "issue_key": key}, deliveries


def _live_feedback(state: SandboxState, tool: str) -> list[Any]:
    if tool == "zendesk":
        return [k for k, t in state.zendesk.tickets.items() if t.get("status") != "deleted"]
    if tool == "freshdesk":
        return [k for k, t in state.freshdesk.tickets.items() if not t.get("deleted")]
    return list(state.intercom.conversations)


def close_ticket(
    state: SandboxState, rng: random.Random, base: str
) -> tuple[Change, list[Delivery]]:
    tool = rng.choice(("zendesk", "intercom", "freshdesk"))
    key = rng.choice(_live_feedback(state, tool))
    changes = {"zendesk": {"status": "solved"}, "intercom": {"state": "closed"}}.get(
        tool, {"status": 4}
    )
    kind = FEEDBACK_KIND[tool]
    _, _, deliveries = _change(state, tool, kind, key, changes, base)
    return {"tool": tool, "kind": kind, "id": str(key)}, deliveries


def delete_ticket(
    state: SandboxState, rng: random.Random, base: str
) -> tuple[Change, list[Delivery]]:
    tool = rng.choice(("zendesk", "intercom", "freshdesk"))
    key = rng.choice(_live_feedback(state, tool))
    kind = FEEDBACK_KIND[tool]
    spec = KINDS[(tool, kind)]
    assert spec.delete is not None
    before = copy.deepcopy(spec.records(state)[key])
    spec.delete(state, key, _now())
    state.touch(tool, spec.index_key(key))
    after = copy.deepcopy(spec.records(state).get(key))
    deliveries = record_changed(state, tool, kind, before, after, base)
    return {"tool": tool, "kind": kind, "id": str(key), "deleted": True}, deliveries


STEPS: dict[str, Step] = {
    "open_ticket": open_ticket,
    "tag_issue": tag_issue,
    "move_deal": move_deal,
    "cite_in_deal": cite_in_deal,
    "resolve_issue": resolve_issue,
    "close_ticket": close_ticket,
    "delete_ticket": delete_ticket,
}
MIXED = {
    "open_ticket": 5,
    "move_deal": 4,
    "tag_issue": 2,
    "cite_in_deal": 2,
    "resolve_issue": 1,
    "close_ticket": 1,
    "delete_ticket": 1,
}


def simulate(
    state: SandboxState, kind: str, count: int, rng: random.Random, base: str
) -> tuple[list[Change], list[Delivery]]:
    changes, deliveries = [], []
    for _ in range(count):
        name = kind
        if kind == "mixed":
            name = rng.choices(list(MIXED), list(MIXED.values()))[0]
        with state.lock:
            change, sent = STEPS[name](state, rng, base)
        change = {"activity": name, **change, "deliveries": [d.delivery_id for d in sent]}
        changes.append(change)
        deliveries += sent
    return changes, deliveries


async def activity(request: Request) -> Response:
    ok, body = await read_json(request)
    body = body if ok and isinstance(body, dict) else None
    if body is None:
        return json_response({"error": "expected a JSON object"}, 400)
    kind, count, seed = body.get("kind", "mixed"), body.get("count", 1), body.get("seed")
    if kind not in STEPS and kind != "mixed":
        return json_response({"error": f"kind must be one of {[*STEPS, 'mixed']}"}, 400)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        return json_response({"error": f"count must be an integer from 1 to {MAX_COUNT}"}, 400)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        return json_response({"error": "seed must be an integer"}, 400)
    state: SandboxState = request.app.state.sandbox
    base = base_url(request).removesuffix("/_sandbox")
    changes, deliveries = simulate(state, kind, count, random.Random(seed), base)
    webhooks_of(request.app).emit(deliveries)
    return json_response({"changes": changes})


def routes() -> list[BaseRoute]:
    return [Route("/activity", activity, methods=["POST"])]
