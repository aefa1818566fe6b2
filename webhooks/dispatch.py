"""The dispatcher: from the inbox to targeted `handle-events` runs.

It runs beside the receiver in `pmsync webhooks` (a background thread; `run_once` for
tests). Each round it waits until the oldest pending event is `window` old, so a burst
of events about one record is claimed together and that record is read back once, then:

1. claims the pending events (one claim token for the batch);
2. drops pmsync's own writes coming back (see `OwnWrites`), and events that name no
   record, marking them done: nothing to read back, nothing to write;
3. starts one `handle-events` run for the rest: through the Prefect server when one is
   configured and the `handle-events/handle-events` deployment exists
   (`run_deployment(..., idempotency_key=<claim token>, timeout=0)`), else in this
   process, calling the flow's plain core (~0.1 s; a run through `pmsync serve` takes
   ~1 s, most of it Prefect's poll and start: docs/performance.md, "Webhook latency").

Events are marked done only when their run succeeded; a failed run puts them back to
pending with the error (`Inbox.mark_failed`), and the dispatcher waits 1, 2, 4 ... 60 s
before it claims again. A run the Prefect server reports crashed,
failed or cancelled does the same; one that never reports back is returned to pending by
`requeue_stale` once its claim is older than `stale_after`, as is the batch of a
dispatcher that died holding it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import func, select

from connectors.hubspot import COMPANY_PROPERTIES, DEAL_PROPERTIES
from connectors.jira_write import COMMENT_MARKER, PROPERTY_KEY
from connectors.lookup import Lookup
from flows.events import process
from flows.sync import refuse_secrets
from models import Settings
from store import Store
from store.inbox import PENDING, PROCESSING, PROCESSING_TIMEOUT, Inbox, InboxEvent, inbox
from webhooks.tools import hints

log = logging.getLogger("pmsync.dispatch")

DEPLOYMENT = "handle-events/handle-events"
REQUEUE_EVERY_S = 30.0
# The marker connectors.notes puts at the end of every close-the-loop note.
NOTE_MARKER = re.compile(r"\[pmsync [A-Za-z][A-Za-z0-9_]*-\d+ [^\]]+\]")
# HubSpot says which property changed: a change to one pmsync never reads moves nothing.
# (Its modification time alone changes with every edit, so it names nothing read.)
HUBSPOT_READS = {
    "deal": set(DEAL_PROPERTIES) - {"hs_lastmodifieddate"},
    "company": set(COMPANY_PROPERTIES) - {"hs_lastmodifieddate"},
}


# -- pmsync's own writes ---------------------------------------------------------------------


def _text(node: Any) -> str:
    """The text of a comment body: plain text (webhooks use REST v2) or ADF."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return str(node.get("text") or "") + "".join(_text(c) for c in node.get("content") or [])
    if isinstance(node, list):
        return "".join(_text(c) for c in node)
    return ""


def _get(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


class OwnWrites:
    """Recognises pmsync's own writes coming back as webhooks:

    - Jira: changelogs that touch only pmsync's custom fields and threshold labels, the
      managed comment (its "pmsync demand summary" marker), the `pmsync.demand`
      property, and anything authored by the API user (its email or account id);
    - support tools and CRMs: the close-the-loop notes, by the `[pmsync KEY transition]`
      marker connectors.notes ends each with;
    - HubSpot property changes pmsync does not read (a note moves `notes_last_updated`).
    """

    def __init__(self, settings: Settings, jira_account_ids: Iterable[str] = ()) -> None:
        names = (
            settings.jira_field_requests,
            settings.jira_field_revenue,
            settings.jira_field_pipeline,
        )
        self.fields = {name.lower() for name in names if name}
        self.labels = {label for label, _ in settings.demand_label_rules}
        self.jira_email = (settings.jira_email or "").lower()
        self.jira_account_ids = set(jira_account_ids)

    def reason(self, event: InboxEvent) -> str | None:
        """Why this event is pmsync's own doing, or None when it is someone else's."""
        read = getattr(self, f"_{event.tool}", None)
        return read(event.payload) if read else None

    def _jira(self, payload: Any) -> str | None:
        user = _get(payload, "user") or _get(payload, "comment", "author") or {}
        if isinstance(user, dict) and (
            (self.jira_email and str(user.get("emailAddress", "")).lower() == self.jira_email)
            or user.get("accountId") in self.jira_account_ids
        ):
            return "authored by pmsync's API user"
        event = str(_get(payload, "webhookEvent") or "")
        if event.startswith("comment_") and COMMENT_MARKER in _text(
            _get(payload, "comment", "body")
        ):
            return "pmsync's managed comment"
        if str(_get(payload, "property", "key") or "").startswith(PROPERTY_KEY):
            return "pmsync's issue property"
        items = _get(payload, "changelog", "items")
        managed = isinstance(items, list) and items and all(self._managed(i) for i in items)
        return "only pmsync's fields and labels changed" if managed else None

    def _managed(self, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        name = str(item.get("field") or "").lower()
        if name in self.fields:
            return True
        if name == "labels" or item.get("fieldId") == "labels":
            before = set(str(item.get("fromString") or "").split())
            after = set(str(item.get("toString") or "").split())
            return bool(before ^ after) and (before ^ after) <= self.labels
        return False

    def _zendesk(self, payload: Any) -> str | None:
        body = _get(payload, "event", "comment", "body")
        return "pmsync's note" if NOTE_MARKER.search(str(body or "")) else None

    def _hubspot(self, payload: Any) -> str | None:
        name = str(_get(payload, "propertyName") or "")
        if name == "hs_note_body" and NOTE_MARKER.search(str(_get(payload, "propertyValue"))):
            return "pmsync's note"
        subscription = str(_get(payload, "subscriptionType") or "")
        kind, _, change = subscription.partition(".")
        if change == "propertyChange" and kind in HUBSPOT_READS and name not in HUBSPOT_READS[kind]:
            return f"{kind} property {name} is not one pmsync reads"
        return None

    def _intercom(self, payload: Any) -> str | None:
        parts = _get(payload, "data", "item", "conversation_parts", "conversation_parts")
        notes = isinstance(parts, list) and parts
        if notes and all(NOTE_MARKER.search(_text(_get(p, "body"))) for p in parts):
            return "pmsync's note"
        return None

    def _freshdesk(self, payload: Any) -> str | None:
        hook = _get(payload, "freshdesk_webhook") or payload
        # The latest private comment stays in every later delivery: only the delivery of
        # the note itself is pmsync's.
        if "note_action" in str(_get(hook, "triggered_event") or "") and NOTE_MARKER.search(
            str(_get(hook, "ticket_latest_private_comment") or "")
        ):
            return "pmsync's note"
        return None

    def _salesforce(self, payload: Any) -> str | None:
        items = _get(payload, "new")
        items = items if isinstance(items, list) else [payload]
        notes = [
            item
            for item in items
            if isinstance(item, dict)
            and NOTE_MARKER.search(f"{item.get('Subject') or ''} {item.get('Description') or ''}")
        ]
        return "pmsync's note" if items and len(notes) == len(items) else None


# -- running the targeted flow -----------------------------------------------------------------


class Runner(Protocol):
    """Starts `handle-events` for one claimed batch."""

    def run(self, event_ids: list[int], claim: str) -> None: ...

    def watch(self) -> None: ...


class InProcess:
    """The flow's plain core in this thread: no Prefect server, no seconds of overhead."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.lookup = Lookup(settings)  # sessions (and Salesforce's token) kept across runs

    def run(self, event_ids: list[int], claim: str) -> None:
        process(self.settings, self.store, event_ids, lookup=self.lookup)

    def watch(self) -> None:
        return None


@dataclass
class _Launched:
    event_ids: list[int]
    claim: str
    started: float


class ThroughPrefect:
    """`run_deployment` with the claim token as idempotency key, without waiting; the run
    marks its events done itself. A run the server reports failed, crashed or cancelled
    puts its events back to pending (if they are still under its claim)."""

    def __init__(
        self,
        store: Store,
        deployment: str = DEPLOYMENT,
        parameters: dict[str, Any] | None = None,
        watch_every: float = 2.0,
    ) -> None:
        self.store = store
        self.deployment = deployment
        self.parameters = dict(parameters or {})
        # Prefect stores each run's parameters: the store's URL with a password stays in
        # the environment of the process that serves handle-events.
        refuse_secrets(self.parameters.get("database_url"), self.parameters.get("sandbox_url"))
        self.watch_every = watch_every
        self.launched: dict[UUID, _Launched] = {}
        self._watched = 0.0

    def run(self, event_ids: list[int], claim: str) -> None:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment

        started = time.monotonic()
        flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
            self.deployment,
            parameters={**self.parameters, "event_ids": event_ids},
            idempotency_key=claim,
            timeout=0,
            as_subflow=False,
        )
        self.launched[flow_run.id] = _Launched(event_ids, claim, time.monotonic())
        log.info(
            "handle-events run %s for events %s (created in %.2fs)",
            flow_run.id,
            event_ids,
            time.monotonic() - started,
        )

    def watch(self) -> None:
        if not self.launched or time.monotonic() - self._watched < self.watch_every:
            return
        started = self._watched = time.monotonic()
        from prefect import get_client

        with get_client(sync_client=True) as client:
            for run_id, launched in list(self.launched.items()):
                state = client.read_flow_run(run_id).state
                if state is None or not state.is_final():
                    continue
                del self.launched[run_id]
                if not state.is_completed():
                    _fail_claimed(self.store, launched, f"flow run {run_id} {state.name}")
        log.debug("watched %d runs in %.2fs", len(self.launched), time.monotonic() - started)


def _fail_claimed(store: Store, launched: _Launched, error: str) -> None:
    """Back to pending, those of the batch still held under its claim."""
    held = [
        e.id
        for e in store.inbox.events(status=PROCESSING)
        if e.claim == launched.claim and e.id in set(launched.event_ids)
    ]
    if held:
        store.inbox.mark_failed(held, error)
        log.warning("events %s back to pending: %s", held, error)


def prefect_deployment_exists(deployment: str = DEPLOYMENT) -> bool:
    """Whether a Prefect server is configured (PREFECT_API_URL) and serves `deployment`."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        return False
    except Exception as error:  # server unreachable: handle events here rather than not at all
        log.warning("Prefect server not usable (%s): handling events in-process", error)
        return False
    return True


# -- the loop ----------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    claimed: int = 0
    dropped: dict[int, str] = field(default_factory=dict)
    no_hint: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    coalesced: int = 0  # events that named a record another event of the batch named too
    claim: str | None = None
    error: str | None = None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        runner: Runner | None = None,
        window: float = 0.2,
        poll_interval: float = 0.05,
        batch_size: int = 100,
        stale_after: timedelta = PROCESSING_TIMEOUT,
        own_writes: OwnWrites | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.store = store
        self.inbox = Inbox(store.engine, clock=clock)
        self.runner = runner or choose_runner(settings, store)
        self.window = timedelta(seconds=window)
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stale_after = stale_after
        self.own_writes = own_writes or OwnWrites(settings, _jira_account_ids(settings))
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._requeued = float("-inf")
        self._failures = 0
        self._backoff_until = float("-inf")
        # Totals since start, for logs, tests and benchmarks.
        self.stats: Counter[str] = Counter()

    def due(self) -> bool:
        """Whether the oldest pending event has waited out the coalescing window."""
        with self.store.engine.connect() as conn:
            oldest = conn.execute(
                select(func.min(inbox.c.received_at)).where(inbox.c.status == PENDING)
            ).scalar_one_or_none()
        return oldest is not None and self.clock() - _aware(oldest) >= self.window

    def run_once(self, wait: bool = False) -> DispatchReport:
        """One round: claim what is due, drop the echoes, start one run for the rest.
        `wait`: claim whatever is pending without waiting out the window (tests)."""
        report = DispatchReport()
        self.runner.watch()
        if time.monotonic() - self._requeued >= REQUEUE_EVERY_S:
            # Claims a dead worker left: pending again, then due like any other event.
            self._requeued = time.monotonic()
            self.inbox.requeue_stale(self.stale_after)
        if not wait and (time.monotonic() < self._backoff_until or not self.due()):
            return report
        events = self.inbox.claim(self.batch_size, timeout=self.stale_after)
        if not events:
            return report
        report.claimed, report.claim = len(events), events[0].claim
        kept: list[InboxEvent] = []
        for event in events:
            reason = self.own_writes.reason(event)
            if reason:
                report.dropped[event.id] = reason
            elif not hints(event.tool, event.payload):
                report.no_hint.append(event.id)
            else:
                kept.append(event)
        if report.dropped or report.no_hint:
            self.inbox.mark_done([*report.dropped, *report.no_hint])
            log.info("dropped: %s; naming no record: %s", report.dropped, report.no_hint)
        self.stats.update(
            claimed=report.claimed, dropped=len(report.dropped), no_hint=len(report.no_hint)
        )
        if not kept:
            return report
        named = [h for event in kept for h in hints(event.tool, event.payload)]
        report.coalesced = len(named) - len(set(named))
        report.started = [event.id for event in kept]
        self.stats.update(runs=1, started=len(kept), coalesced=report.coalesced)
        try:
            self.runner.run(report.started, str(report.claim))
            self._failures = 0
        except Exception as error:
            self.stats.update(failed_runs=1)
            # A tool or the store down: wait before claiming again (1, 2, 4 ... 60 s), so
            # the events' few attempts are not all spent within a second.
            self._failures += 1
            self._backoff_until = time.monotonic() + min(60.0, 2.0 ** (self._failures - 1))
            # In-process runs mark their own failures; a run that could not even start
            # (the Prefect server down) goes back to pending here.
            report.error = f"{type(error).__name__}: {error}"
            log.error("handling events %s failed: %s", report.started, report.error)
            held = self.inbox.events(status=PROCESSING)
            ids = [e.id for e in held if e.claim == report.claim]
            if ids:
                self.inbox.mark_failed(ids, report.error[:500])
        return report

    # -- the background thread --------------------------------------------------------------

    def start(self) -> Dispatcher:
        """Run in a daemon thread until `stop`. Its first round returns what a dead
        dispatcher left claimed (older than `stale_after`) to pending."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pmsync-dispatch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
            except Exception:  # the store unreachable for a moment: keep polling
                log.exception("dispatch round failed")
                report = DispatchReport()
            if not report.claimed:
                self._stop.wait(self.poll_interval)


def _jira_account_ids(settings: Settings) -> set[str]:
    """The API user's Jira account id (webhooks name users by account id; the email is
    often hidden). Unknown when Jira cannot be asked: the email still recognises it."""
    if not settings.jira_url or not settings.jira_api_token:
        return set()
    try:
        from connectors.jira import JiraConnector

        # One attempt: a dispatcher should start now, not after a minute of back-off.
        once = settings.model_copy(update={"http_max_attempts": 1})
        me = JiraConnector(once).api.get_json("/rest/api/3/myself")
    except Exception as error:
        log.warning("could not read Jira's /myself (%s): recognising pmsync by email", error)
        return set()
    return {str(me["accountId"])} if me.get("accountId") else set()


def choose_runner(
    settings: Settings,
    store: Store,
    mode: str = "auto",
    parameters: dict[str, Any] | None = None,
) -> Runner:
    """`prefect` through the served deployment, `inprocess` here, or `auto`: Prefect when a
    server is configured and the deployment exists."""
    if mode == "prefect" or (mode == "auto" and prefect_deployment_exists()):
        log.info("dispatching through the Prefect deployment %s", DEPLOYMENT)
        return ThroughPrefect(store, parameters=parameters)
    log.info("dispatching in-process")
    return InProcess(settings, store)
