"""Turning the sandbox's data changes into webhooks.

`ChangeCapture` is an ASGI middleware around the tool emulators: for each write route it
copies the record before the request, lets the emulator answer, and on a 2xx compares the
record after it, so the emulators themselves know nothing of webhooks. API writes are
authored by the API user (what pmsync writes comes back to it, as in the real tools);
/_sandbox/update and /_sandbox/delete, like /_sandbox/activity, are a person's doing.

`record_changed` is the one place that picks a vendor's webhook for a changed record.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import salesforce_meta
from sandbox import webhook_events as events
from sandbox import webhook_events_crm as crm_events
from sandbox import webhook_events_desk as desk_events
from sandbox.admin_records import KINDS
from sandbox.webhook_events import API, PERSON
from sandbox.webhooks_out import Delivery, Webhooks

if TYPE_CHECKING:
    from sandbox.state import SandboxState

Snapshot = dict[str, Any]
HUBSPOT_SINGULAR = {"deals": "deal", "companies": "company", "contacts": "contact"}


def webhooks_of(app: Any) -> Webhooks:
    hooks: Webhooks = app.state.webhooks
    return hooks


# -- what a record change sends ------------------------------------------------------------


def _agent(state: SandboxState, tool: str) -> Any:
    """A support agent of the tool: who a person's change in its UI is made by."""
    if tool == "zendesk":
        return next((u["id"] for u in state.zendesk.users.values() if u.get("role") == "agent"), 0)
    return None


def record_changed(
    state: SandboxState,
    tool: str,
    kind: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    base: str,
    actor: str = PERSON,
    new_comments: list[dict[str, Any]] | None = None,
) -> list[Delivery]:
    """The webhooks a tool sends for one record that changed. Kinds are /_sandbox's
    (jira/issue, zendesk/ticket, hubspot/deal, ...); `base` is the sandbox's root URL."""
    comments = new_comments or []
    if tool == "jira" and kind == "issue":
        return events.jira_issue(before, after, actor, f"{base}/jira")
    if tool == "zendesk" and kind == "ticket":
        return desk_events.zendesk_ticket(before, after, comments, actor, _agent(state, "zendesk"))
    if tool == "zendesk":
        return desk_events.zendesk_other(kind, before, after, actor)
    if tool == "hubspot" and kind in ("deal", "company", "contact"):
        return crm_events.hubspot_object(kind, before, after, actor)
    if tool == "intercom" and kind == "conversation":
        return desk_events.intercom_conversation(before, after, comments, actor)
    if tool == "intercom":
        return desk_events.intercom_other(kind, before, after, actor)
    if tool == "freshdesk" and kind == "ticket":
        ticket = after or before or {}
        contact = state.freshdesk.contacts.get(ticket.get("requester_id")) or {}
        return desk_events.freshdesk_ticket(before, after, comments, actor, contact.get("email"))
    if tool == "salesforce":
        sobject = {"opportunity": "Opportunity", "account": "Account", "task": "Task"}.get(kind)
        if not sobject:
            return []
        # As this tenant's org has the record (its fields, its currency), like the API.
        shown = [
            salesforce_meta.view(r, sobject, state.tenant) if r else r for r in (before, after)
        ]
        return crm_events.salesforce_record(sobject, shown[0], shown[1], actor)
    return []  # Freshdesk companies and contacts: automations are about tickets


# -- the write routes and what each one changes --------------------------------------------


@dataclass(frozen=True)
class Watch:
    """A write route: what to copy before it runs, and what it sent once it answered."""

    method: str
    path: re.Pattern[str]
    before: Callable[[SandboxState, dict[str, str], Any], Snapshot]
    after: Callable[[SandboxState, dict[str, str], Any, Any, Snapshot, str], list[Delivery]]


def _copy(value: Any) -> Any:
    return copy.deepcopy(value) if value is not None else None


def _nothing(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    return {}


def _jira_issue_before(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    return {"issue": _copy(state.jira.find(params["key"]))}


def _jira_issue_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    issue = state.jira.find(params["key"])
    sent = events.jira_issue(was["issue"], _copy(issue), API, f"{base}/jira")
    # A property set through the edit's `properties` member is announced as the
    # properties endpoint announces it.
    for member in body.get("properties") or [] if isinstance(body, dict) else []:
        sent += _jira_property_after(
            state, {**params, "prop": member["key"]}, body, None, was, base
        )
    return sent


def _jira_remote_link_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    issue = state.jira.find(params["key"])
    before = was["issue"]
    if issue is None or before is None or not isinstance(answer, dict):
        return []
    if (before.get("fields") or {}).get("updated") == (issue.get("fields") or {}).get("updated"):
        return []  # the same link posted again: nothing new in the history
    stored = state.jira.remote_links.get(str(issue.get("key")), [])
    link = next((x for x in stored if x.get("id") == answer.get("id")), None)
    if link is None:
        return []
    logged = (events.remote_link_logged(link),)
    return events.jira_issue(before, _copy(issue), API, f"{base}/jira", logged)


def _jira_comment_after(
    event: str,
) -> Callable[[SandboxState, dict[str, str], Any, Any, Snapshot, str], list[Delivery]]:
    def after(
        state: SandboxState,
        params: dict[str, str],
        body: Any,
        answer: Any,
        was: Snapshot,
        base: str,
    ) -> list[Delivery]:
        issue = state.jira.find(params["key"])
        if issue is None or not isinstance(answer, dict):
            return []
        stored = state.jira.comments.get(str(issue.get("key")), [])
        found = next((c for c in stored if c.get("id") == answer.get("id")), None)
        if found is None:
            return []
        return events.jira_comment(event, _copy(issue), _copy(found), API, f"{base}/jira")

    return after


def _jira_property_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    issue = state.jira.find(params["key"])
    if issue is None:
        return []
    value = state.jira.properties.get(str(issue.get("key")), {}).get(params["prop"])
    return events.jira_property(_copy(issue), params["prop"], _copy(value), API)


def _int(value: str) -> Any:
    return int(value) if value.isdigit() else value


def _thread_before(records: dict[Any, Any], children: dict[Any, list[Any]], key: Any) -> Snapshot:
    """A record that a route appends children to (comments, parts, notes): the record, and
    how many children it had, so that the change can tell the ones the route added."""
    return {"record": _copy(records.get(key)), "count": len(children.get(key, []))}


def _thread_after(
    records: dict[Any, Any], children: dict[Any, list[Any]], key: Any, was: Snapshot
) -> tuple[Any, Any, list[Any]]:
    """The record before, after, and the children added since `_thread_before`."""
    return was["record"], _copy(records.get(key)), _copy(children.get(key, [])[was["count"] :])


def _zendesk_before(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    return _thread_before(state.zendesk.tickets, state.zendesk.comments, _int(params["id"]))


def _zendesk_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    desk, tid = state.zendesk, _int(params["id"])
    before, after, added = _thread_after(desk.tickets, desk.comments, tid, was)
    if after == before and not added:
        return []
    return desk_events.zendesk_ticket(before, after, added, API, None)


def _hubspot_note_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    if not isinstance(answer, dict):
        return []
    note = state.hubspot.objects["notes"].get(str(answer.get("id")))
    if note is None:
        return []
    targets = []
    for link in body.get("associations") or [] if isinstance(body, dict) else []:
        target_id = str((link.get("to") or {}).get("id"))
        for plural, singular in HUBSPOT_SINGULAR.items():
            target = state.hubspot.objects.get(plural, {}).get(target_id)
            if target is not None:
                targets.append((singular, target_id, _copy(target)))
                break
    return crm_events.hubspot_note(_copy(note), targets, API)


def _intercom_before(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    return _thread_before(state.intercom.conversations, state.intercom.parts, params["id"])


def _intercom_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    desk = state.intercom
    before, after, added = _thread_after(desk.conversations, desk.parts, params["id"], was)
    return desk_events.intercom_conversation(before, after, added, API)


def _freshdesk_before(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    desk = state.freshdesk
    return _thread_before(desk.tickets, desk.conversations, _int(params["id"]))


def _freshdesk_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    desk, tid = state.freshdesk, _int(params["id"])
    before, after, added = _thread_after(desk.tickets, desk.conversations, tid, was)
    contact = desk.contacts.get((after or {}).get("requester_id")) or {}
    return desk_events.freshdesk_ticket(before, after, added, API, contact.get("email"))


def _salesforce_task_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    task = state.salesforce.records["Task"].get(str((answer or {}).get("id")))
    return crm_events.salesforce_record("Task", None, _copy(task), API) if task else []


def _admin_target(body: Any) -> tuple[str, str, Any] | None:
    if not isinstance(body, dict) or body.get("id") is None:
        return None
    tool, name = str(body.get("tool", "")).lower(), str(body.get("kind", "")).lower()
    kind = KINDS.get((tool, name))
    return (tool, name, kind.key(body["id"])) if kind else None


def _record(state: SandboxState, tool: str, name: str, key: Any) -> dict[str, Any] | None:
    found: dict[str, Any] | None = KINDS[(tool, name)].records(state).get(key)
    return found


def _admin_before(state: SandboxState, params: dict[str, str], body: Any) -> Snapshot:
    target = _admin_target(body)
    return {"record": _copy(_record(state, *target)) if target else None}


def _admin_after(
    state: SandboxState, params: dict[str, str], body: Any, answer: Any, was: Snapshot, base: str
) -> list[Delivery]:
    target = _admin_target(body)
    if target is None or was["record"] is None:
        return []
    tool, name, key = target
    after = _copy(_record(state, tool, name, key))
    if after == was["record"]:
        return []
    return record_changed(state, tool, name, was["record"], after, base)


def _route(method: str, pattern: str, before: Any, after: Any) -> Watch:
    return Watch(method, re.compile(pattern), before, after)


JIRA = r"^/jira/rest/api/[23]/issue/(?P<key>[^/]+)"
WATCHES = (
    _route("PUT", JIRA + "$", _jira_issue_before, _jira_issue_after),
    _route("POST", JIRA + "/comment$", _nothing, _jira_comment_after("comment_created")),
    _route("PUT", JIRA + r"/comment/[^/]+$", _nothing, _jira_comment_after("comment_updated")),
    _route("PUT", JIRA + r"/properties/(?P<prop>[^/]+)$", _nothing, _jira_property_after),
    _route("POST", JIRA + "/remotelink$", _jira_issue_before, _jira_remote_link_after),
    _route(
        "PUT", r"^/zendesk/api/v2/tickets/(?P<id>\d+)(?:\.json)?$", _zendesk_before, _zendesk_after
    ),
    _route("POST", r"^/hubspot/crm/v3/objects/notes$", _nothing, _hubspot_note_after),
    _route(
        "POST", r"^/intercom/conversations/(?P<id>[^/]+)/reply$", _intercom_before, _intercom_after
    ),
    _route("DELETE", r"^/intercom/conversations/(?P<id>[^/]+)$", _intercom_before, _intercom_after),
    _route(
        "POST",
        r"^/freshdesk/api/v2/tickets/(?P<id>\d+)/notes$",
        _freshdesk_before,
        _freshdesk_after,
    ),
    _route(
        "DELETE", r"^/freshdesk/api/v2/tickets/(?P<id>\d+)$", _freshdesk_before, _freshdesk_after
    ),
    _route(
        "PUT",
        r"^/freshdesk/api/v2/tickets/(?P<id>\d+)/restore$",
        _freshdesk_before,
        _freshdesk_after,
    ),
    _route(
        "POST",
        r"^/salesforce/services/data/[^/]+/sobjects/Task$",
        _nothing,
        _salesforce_task_after,
    ),
    _route("POST", r"^/_sandbox/(update|delete)$", _admin_before, _admin_after),
)


def _watch(method: str, path: str) -> tuple[Watch, dict[str, str]] | None:
    for watch in WATCHES:
        if watch.method == method:
            match = watch.path.match(path)
            if match:
                return watch, match.groupdict()
    return None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


class ChangeCapture:
    """The middleware: pass-through unless webhooks are on and the route writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        starlette = scope["app"]
        hooks = webhooks_of(starlette)
        found = _watch(scope["method"], scope["path"]) if hooks.enabled else None
        if found is None:
            await self.app(scope, receive, send)
            return
        watch, params = found
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        raw = b"".join(chunks)
        body = _json(raw)
        state: SandboxState = starlette.state.sandbox
        with state.lock:
            was = watch.before(state, params, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        status = 0
        answer: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay, capture)
        if not 200 <= status < 300:
            return
        server = scope.get("server") or ("127.0.0.1", 80)
        host = (
            dict(scope.get("headers") or []).get(b"host", b"").decode()
            or f"{server[0]}:{server[1]}"
        )
        base = f"{scope.get('scheme', 'http')}://{host}"
        with state.lock:
            deliveries = watch.after(state, params, body, _json(b"".join(answer)), was, base)
        hooks.emit(deliveries)
