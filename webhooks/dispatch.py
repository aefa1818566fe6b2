"""The dispatcher: from the inbox to targeted `handle-events` runs.

It runs beside the receiver in `pmsync webhooks` (a background thread; `run_once` for
tests). Each round it waits until the oldest pending event is `window` old, so a burst
of events about one record is claimed together and that record is read back once, then:

1. claims the pending events (one claim token for the batch);
2. drops pmsync's own writes coming back (see `OwnWrites`), and events that name no
   record, marking them done: nothing to read back, nothing to write;
3. handles the rest in one `handle-events` run, as the runner chosen (`choose_runner`):
   - `prefect` (what `auto` picks when a Prefect server is configured and serves the
     `handle-events/handle-events` deployment): the `handle_events` flow called in this
     process (`AsFlowRun`), a Prefect flow run like any other (its name, parameters, states and logs
     on the server), with no process to start: 0.3-0.6 s from the webhook to the tracker;
   - `deployment`: a run of that deployment (`run_deployment(..., idempotency_key=<claim
     token>, timeout=0)`), started by whichever `pmsync serve` or worker serves it, each
     in a fresh interpreter: seconds, most of them the new process's imports;
   - `inprocess` (`auto` without Prefect): the flow's plain core in this thread, ~0.1 s.
   docs/performance.md, "Webhook latency", has the figures.

Events are marked done only when their run succeeded; a failed run puts them back to
pending with the error (`Inbox.mark_failed`), and the dispatcher waits 1, 2, 4 ... 60 s
before it claims again. A deployment's run the Prefect server reports crashed, failed or
cancelled does the same; one that never reports back is returned to pending by
`requeue_stale` once its claim is older than `stale_after`, as is the batch of a
dispatcher that died holding it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import func, select

from connectors import registry
from connectors.lookup import Lookup
from connectors.registry import OwnWriteContext, hints
from connectors.settings import Settings
from flows.events import process
from flows.sync import refuse_secrets
from store import Store
from store.inbox import PENDING, PROCESSING, PROCESSING_TIMEOUT, Inbox, InboxEvent, inbox

log = logging.getLogger("pmsync.dispatch")

DEPLOYMENT = "handle-events/handle-events"
REQUEUE_EVERY_S = 30.0


# -- pmsync's own writes ---------------------------------------------------------------------


class OwnWrites:
    """Recognises pmsync's own writes coming back as webhooks, each tool by its own rule
    (`Vendor.own_write`): on the tracker, pmsync's fields, labels, comment and property and
    anything its API user did (`account_ids` names it); on support tools and CRMs, the
    close-the-loop notes, by the `[pmsync KEY transition]` marker connectors.notes ends
    each with, and changes to what pmsync never reads."""

    def __init__(self, settings: Settings, account_ids: Iterable[str] = ()) -> None:
        self.context = OwnWriteContext(settings, frozenset(account_ids))

    def reason(self, event: InboxEvent) -> str | None:
        """Why this event is pmsync's own doing, or None when it is someone else's."""
        known = registry.find(event.tool)
        if known is None or known.own_write is None:
            return None
        return known.own_write(event.payload, self.context)


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
        self.lookup = Lookup(settings)  # sessions (and access tokens) kept across runs

    def run(self, event_ids: list[int], claim: str) -> None:
        process(self.settings, self.store, event_ids, lookup=self.lookup)

    def watch(self) -> None:
        return None


class AsFlowRun:
    """The `handle_events` flow called in this process: each batch is a Prefect flow run,
    named, with its parameters, states and logs on the server as a served run has them,
    but it starts in hundredths of a second (this process has imported everything
    already) where a served run waits for the runner's poll and a new interpreter. Not a
    run of the deployment: Prefect's cancel does not reach it (a batch takes a second or
    less).

    `run` returns once the run's final state is set, and raises when it is not Completed
    (as `InProcess` does: the dispatcher waits before claiming again; the flow has put its
    events back to pending already). The flow runs in a pool thread because Prefect ends a
    run by waiting up to a second for its heartbeat thread to stop: the next batch starts
    meanwhile."""

    def __init__(
        self, store: Store, parameters: dict[str, Any] | None = None, threads: int = 4
    ) -> None:
        from flows.logs import for_runs

        self.store = store
        self.parameters = dict(parameters or {})
        # Prefect stores each run's parameters: a password stays in the environment.
        refuse_secrets(self.parameters.get("database_url"), self.parameters.get("sandbox_url"))
        for_runs()  # pmsync's lines, naming the tool, in each run's Prefect logs
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="pmsync-events")

    def run(self, event_ids: list[int], claim: str) -> None:
        from flows.events import handle_events

        ended: list[Any] = []
        over = threading.Event()

        def final(flow: Any, flow_run: Any, state: Any) -> None:
            ended.append(state)
            over.set()

        flow = handle_events.with_options(
            on_completion=[final], on_failure=[final], on_crashed=[final], on_cancellation=[final]
        )
        started = time.monotonic()
        call = self.pool.submit(flow, event_ids=event_ids, **self.parameters, return_state=True)
        call.add_done_callback(lambda _: over.set())
        over.wait()
        # No final state: the run could not even start (the Prefect server down); its error.
        state = ended[0] if ended else call.result()
        log.info(
            "handle-events run %s for events %s: %s in %.2fs",
            state.state_details.flow_run_id,
            event_ids,
            state.name,
            time.monotonic() - started,
        )
        if not state.is_completed():
            state.result()  # raises the run's error
            raise RuntimeError(f"flow run {state.state_details.flow_run_id} {state.name}")

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
        self.own_writes = own_writes or OwnWrites(settings, _own_account_ids(settings))
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


def _own_account_ids(settings: Settings) -> set[str]:
    """Who pmsync's API user is on the tracker, when the tracker says (else by email)."""
    identity = registry.tracker().own_identity
    return identity(settings) if identity else set()


def choose_runner(
    settings: Settings,
    store: Store,
    mode: str = "auto",
    parameters: dict[str, Any] | None = None,
) -> Runner:
    """`prefect`: Prefect flow runs in this process; `deployment`: runs of the served
    deployment; `inprocess`: the plain core here; `auto`: `prefect` when a Prefect server
    is configured and serves the deployment (`pmsync serve` runs beside), else `inprocess`."""
    if mode == "deployment":
        log.info("dispatching through the Prefect deployment %s", DEPLOYMENT)
        return ThroughPrefect(store, parameters=parameters)
    if mode == "prefect" or (mode == "auto" and prefect_deployment_exists()):
        log.info("dispatching as Prefect flow runs in this process")
        return AsFlowRun(store, parameters=parameters)
    log.info("dispatching in-process")
    return InProcess(settings, store)
