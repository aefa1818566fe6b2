"""The dispatcher without servers: which deliveries are pmsync's own writes, how a batch is
claimed, coalesced and handed to a run, and what happens to it when the run fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.settings import Settings
from store import Store
from store.inbox import DONE, PENDING, PROCESSING, Delivery, Inbox, InboxEvent
from webhooks.dispatch import (
    DEPLOYMENT,
    AsFlowRun,
    Dispatcher,
    InProcess,
    OwnWrites,
    ThroughPrefect,
    choose_runner,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
API_USER = {"accountId": "712020:api", "emailAddress": "demo@example.com"}
PERSON = {"accountId": "5b-person", "displayName": "Dana Whitfield"}
MARK = "Good news: ANA-7 shipped.\n[pmsync ANA-7 done]"


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings.for_sandbox(
        "http://sandbox.invalid",
        database_url=store_url,
        demand_labels=("demand-high:8", "demand-medium:4"),
    )


def jira_update(*items: dict[str, Any], user: dict[str, Any] = PERSON) -> dict[str, Any]:
    return {
        "webhookEvent": "jira:issue_updated",
        "user": user,
        "issue": {"id": "10007", "key": "ANA-7"},
        "changelog": {"items": list(items)},
    }


def item(field: str, before: str | None = None, after: str | None = None) -> dict[str, Any]:
    custom = field.startswith("Customer") or field == "Open Pipeline"
    return {
        "field": field,
        "fieldId": "customfield_10050" if custom else field,
        "fromString": before,
        "toString": after,
    }


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def zendesk(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": f"zen:event-type:{kind}", "subject": "zen:ticket:35", "event": event}


def hubspot(subscription: str, **extra: Any) -> dict[str, Any]:
    return {"eventId": 1, "subscriptionType": subscription, "objectId": 77, **extra}


def freshdesk(triggered: str, private: str) -> dict[str, Any]:
    hook = {"ticket_id": 12, "triggered_event": triggered}
    return {"freshdesk_webhook": {**hook, "ticket_latest_private_comment": private}}


OWN = {
    "jira by the API user": ("jira", jira_update(item("status", "To Do", "Done"), user=API_USER)),
    "jira fields only": (
        "jira",
        jira_update(item("Customer Requests", None, "4"), item("Open Pipeline", "0", "9000")),
    ),
    "jira threshold label": ("jira", jira_update(item("labels", "ux", "demand-medium ux"))),
    "jira label moved up": ("jira", jira_update(item("labels", "demand-medium", "demand-high"))),
    "jira managed comment": (
        "jira",
        {
            "webhookEvent": "comment_updated",
            "comment": {"author": PERSON, "body": adf("pmsync demand summary: 4 requests")},
        },  # fmt: skip
    ),
    "jira managed comment, v2 text": (
        "jira",
        {"webhookEvent": "comment_created", "comment": {"body": "x pmsync demand summary"}},
    ),
    "jira property": (
        "jira",
        {"webhookEvent": "issue_property_set", "property": {"key": "pmsync.demand"}},
    ),  # fmt: skip
    "zendesk note": ("zendesk", zendesk("ticket.comment_added", {"comment": {"body": MARK}})),
    "hubspot note": (
        "hubspot",
        hubspot(
            "object.propertyChange",
            objectTypeId="0-46",
            propertyName="hs_note_body",
            propertyValue=MARK,
        ),
    ),  # fmt: skip
    "hubspot roll-up of a note": (
        "hubspot",
        hubspot("deal.propertyChange", propertyName="notes_last_updated", propertyValue="1"),
    ),
    "intercom note": (
        "intercom",
        {
            "topic": "conversation.admin.noted",
            "data": {
                "item": {
                    "type": "conversation",
                    "id": "9",
                    "conversation_parts": {
                        "conversation_parts": [{"part_type": "note", "body": f"<p>{MARK}</p>"}]
                    },
                }
            },
        },  # fmt: skip
    ),
    "freshdesk note": ("freshdesk", freshdesk("{note_action:private_note_added}", MARK)),
    "salesforce task": (
        "salesforce",
        {"new": [{"attributes": {"type": "Task"}, "Id": "00T1", "Description": MARK}]},
    ),
}
THEIRS = {
    "jira status by a person": ("jira", jira_update(item("status", "To Do", "Done"))),
    "jira fields and status": (
        "jira",
        jira_update(item("Customer Requests", None, "4"), item("status", "To Do", "Done")),
    ),
    "jira label of a person": ("jira", jira_update(item("labels", "", "roadmap"))),
    "jira labels, one managed one not": (
        "jira",
        jira_update(item("labels", "", "demand-high roadmap")),
    ),
    "jira comment of a person": (
        "jira",
        {"webhookEvent": "comment_created", "comment": {"author": PERSON, "body": "Any news?"}},
    ),
    "zendesk customer comment": (
        "zendesk",
        zendesk("ticket.comment_added", {"comment": {"body": "Is ANA-7 coming?"}}),
    ),
    "zendesk status": ("zendesk", zendesk("ticket.status_changed", {"current": "SOLVED"})),
    "hubspot stage": (
        "hubspot",
        hubspot("deal.propertyChange", propertyName="dealstage", propertyValue="closedwon"),
    ),
    "hubspot new deal": ("hubspot", hubspot("deal.creation")),
    "intercom reply": (
        "intercom",
        {
            "topic": "conversation.user.replied",
            "data": {"item": {"type": "conversation", "id": "9"}},
        },
    ),  # fmt: skip
    "freshdesk later update, note still latest": (
        "freshdesk",
        freshdesk("{status:{from:Open,to:Resolved}}", MARK),
    ),
    "salesforce opportunity": (
        "salesforce",
        {"new": [{"attributes": {"type": "Opportunity"}, "Id": "006Dn000000AbcdIAA"}]},
    ),
}


def event(tool: str, payload: Any, event_id: int = 1) -> InboxEvent:
    return InboxEvent(event_id, tool, "d1", NOW, payload, {}, PENDING, 0, None, None)


@pytest.mark.parametrize(("tool", "payload"), OWN.values(), ids=OWN.keys())
def test_pmsyncs_own_writes_are_recognised(settings: Settings, tool: str, payload: Any) -> None:
    """What pmsync wrote, coming back, must not start a run: no echo loop."""
    assert OwnWrites(settings).reason(event(tool, payload))


@pytest.mark.parametrize(("tool", "payload"), THEIRS.values(), ids=THEIRS.keys())
def test_other_peoples_changes_are_kept(settings: Settings, tool: str, payload: Any) -> None:
    """A change anyone else made is never mistaken for pmsync's."""
    assert OwnWrites(settings).reason(event(tool, payload)) is None


def test_the_api_user_is_known_by_its_account_id_when_jira_hides_its_email(
    settings: Settings,
) -> None:
    hidden = {"accountId": "712020:api"}
    payload = jira_update(item("status", "To Do", "Done"), user=hidden)
    assert OwnWrites(settings, {"712020:api"}).reason(event("jira", payload))
    assert OwnWrites(settings).reason(event("jira", payload)) is None


class Recorder:
    """A runner that records what it was asked to run, and may fail."""

    def __init__(self, error: Exception | None = None) -> None:
        self.runs: list[tuple[list[int], str]] = []
        self.error = error

    def run(self, event_ids: list[int], claim: str) -> None:
        self.runs.append((event_ids, claim))
        if self.error:
            raise self.error

    def watch(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def dispatcher(
    settings: Settings, store: Store, runner: Recorder, clock: Clock | None = None, **kw: Any
) -> Dispatcher:
    return Dispatcher(
        settings,
        store,
        runner=runner,
        own_writes=OwnWrites(settings),
        clock=clock or Clock(),
        **kw,
    )


def add(store: Store, tool: str, *payloads: Any, clock: Clock | None = None) -> None:
    inbox = Inbox(store.engine, clock=clock or Clock())
    inbox.add(tool, [Delivery(f"{tool}-{i}-{id(p)}", p) for i, p in enumerate(payloads)])


DEAL_STAGE = hubspot("deal.propertyChange", propertyName="dealstage", propertyValue="closedwon")
DEAL_AMOUNT = hubspot("deal.propertyChange", propertyName="amount", propertyValue="9")


def test_events_on_one_record_start_one_run_that_reads_it_once(
    settings: Settings, store: Store
) -> None:
    add(store, "hubspot", DEAL_STAGE, DEAL_AMOUNT)
    add(store, "zendesk", zendesk("ticket.status_changed", {}))
    runner = Recorder()
    report = dispatcher(settings, store, runner).run_once(wait=True)
    assert report.claimed == 3 and report.coalesced == 1
    [(ids, claim)] = runner.runs
    assert ids == report.started and len(ids) == 3
    held = store.inbox.events(status=PROCESSING)
    assert {e.id for e in held} == set(ids) and {e.claim for e in held} == {claim}


def test_echoes_and_events_naming_nothing_are_done_without_a_run(
    settings: Settings, store: Store
) -> None:
    add(store, "zendesk", OWN["zendesk note"][1])
    add(store, "hubspot", hubspot("object.creation", objectTypeId="0-46"))
    runner = Recorder()
    report = dispatcher(settings, store, runner).run_once(wait=True)
    assert len(report.dropped) == 1 and len(report.no_hint) == 1
    assert runner.runs == []
    assert store.inbox.counts()[DONE] == 2


def test_a_burst_waits_out_the_window_then_goes_together(settings: Settings, store: Store) -> None:
    clock = Clock()
    add(store, "hubspot", DEAL_STAGE, clock=clock)
    runner = Recorder()
    hub = dispatcher(settings, store, runner, clock, window=0.2)
    clock.now = NOW + timedelta(seconds=0.1)
    add(store, "hubspot", DEAL_AMOUNT, clock=clock)
    assert hub.run_once().claimed == 0, "the first event is younger than the window"
    clock.now = NOW + timedelta(seconds=0.25)
    report = hub.run_once()
    assert report.claimed == 2 and report.coalesced == 1


def test_a_run_that_cannot_start_leaves_its_events_pending_with_the_error(
    settings: Settings, store: Store
) -> None:
    add(store, "hubspot", DEAL_STAGE)
    report = dispatcher(settings, store, Recorder(RuntimeError("server down"))).run_once(wait=True)
    assert report.error == "RuntimeError: server down"
    [pending] = store.inbox.events(status=PENDING)
    assert pending.error == "RuntimeError: server down" and pending.attempts == 1


def test_after_a_failed_run_the_dispatcher_backs_off(settings: Settings, store: Store) -> None:
    """A tool that is down must not burn an event's five attempts within a second."""
    add(store, "hubspot", DEAL_STAGE)
    runner = Recorder(RuntimeError("hubspot down"))
    hub = dispatcher(settings, store, runner, window=0)
    assert hub.run_once().claimed == 1
    assert hub.run_once().claimed == 0, "claimed again at once"
    runner.error = None
    hub._backoff_until = float("-inf")  # the wait is over
    assert hub.run_once().claimed == 1
    assert len(runner.runs) == 2


def test_a_failed_in_process_run_puts_its_events_back(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.events

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("hubspot unreachable")

    monkeypatch.setattr(flows.events, "handle", broken)
    add(store, "hubspot", DEAL_STAGE)
    hub = Dispatcher(
        settings, store, runner=InProcess(settings, store), own_writes=OwnWrites(settings)
    )
    report = hub.run_once(wait=True)
    assert report.error and "hubspot unreachable" in report.error
    [pending] = store.inbox.events(status=PENDING)
    assert pending.error == "ConnectionError: hubspot unreachable"


def test_a_batch_a_dead_dispatcher_held_is_taken_up_again(settings: Settings, store: Store) -> None:
    add(store, "hubspot", DEAL_STAGE)
    dead = Inbox(store.engine, clock=Clock()).claim()  # claimed, then the process died
    runner = Recorder()
    later = Clock()
    later.now = NOW + timedelta(minutes=11)
    report = dispatcher(settings, store, runner, later).run_once()
    assert report.claimed == 1 and report.claim != dead[0].claim
    assert runner.runs == [([dead[0].id], report.claim)]


class FlowRun(SimpleNamespace):
    pass


def test_through_prefect_the_claim_is_the_idempotency_key(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefect.deployments

    calls: list[dict[str, Any]] = []

    def run_deployment(name: str, **kwargs: Any) -> FlowRun:
        calls.append({"name": name, **kwargs})
        return FlowRun(id="run-1")

    monkeypatch.setattr(prefect.deployments, "run_deployment", run_deployment)
    runner = ThroughPrefect(store, parameters={"sandbox_url": "http://sb"})
    runner.run([4, 5], "claim-token")
    [call] = calls
    assert call["name"] == DEPLOYMENT == "handle-events/handle-events"
    assert call["parameters"] == {"sandbox_url": "http://sb", "event_ids": [4, 5]}
    assert call["idempotency_key"] == "claim-token" and call["timeout"] == 0


def test_a_crashed_prefect_run_puts_its_events_back(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefect
    import prefect.deployments
    from prefect.states import Crashed

    add(store, "hubspot", DEAL_STAGE)
    [claimed] = store.inbox.claim()
    monkeypatch.setattr(prefect.deployments, "run_deployment", lambda *a, **k: FlowRun(id="r1"))

    class Client:
        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read_flow_run(self, run_id: str) -> FlowRun:
            return FlowRun(state=Crashed(message="worker killed"))

    monkeypatch.setattr(prefect, "get_client", lambda **kw: Client())
    runner = ThroughPrefect(store, watch_every=0)
    runner.run([claimed.id], str(claimed.claim))
    runner.watch()
    [pending] = store.inbox.events(status=PENDING)
    assert pending.error == "flow run r1 Crashed"
    assert runner.launched == {}


def test_without_a_prefect_deployment_events_are_handled_in_process(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhooks.dispatch

    monkeypatch.setattr(webhooks.dispatch, "prefect_deployment_exists", lambda *a: False)
    assert isinstance(choose_runner(settings, store), InProcess)
    monkeypatch.setattr(webhooks.dispatch, "prefect_deployment_exists", lambda *a: True)
    assert isinstance(choose_runner(settings, store), AsFlowRun)
    assert isinstance(choose_runner(settings, store, "inprocess"), InProcess)
    assert isinstance(choose_runner(settings, store, "deployment"), ThroughPrefect)


def test_no_prefect_server_configured_means_no_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from webhooks.dispatch import prefect_deployment_exists

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert prefect_deployment_exists() is False
