"""The dispatcher's `prefect` runner: each batch a `handle-events` Prefect flow run in the
receiver's own process, recorded by a Prefect server (Prefect's test harness, ~10 s to
start) with its parameters and final state, and a failed run's events pending again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.settings import Settings
from store import Store
from store.inbox import PENDING, Delivery
from webhooks.dispatch import AsFlowRun, Dispatcher, OwnWrites, choose_runner

NOWHERE = "http://127.0.0.1:1"  # a sandbox nobody listens on: every read back fails
DEAL_STAGE = {
    "eventId": 1,
    "subscriptionType": "deal.propertyChange",
    "objectId": 77,
    "propertyName": "dealstage",
    "propertyValue": "closedwon",
}


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def handle_events_runs() -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["handle-events"]))
        )


def test_a_batch_is_a_prefect_flow_run_with_its_parameters(
    prefect_server: None, store: Store, store_url: str
) -> None:
    store.inbox.add("hubspot", [Delivery("done-1", DEAL_STAGE)])
    [event] = store.inbox.claim()
    store.inbox.mark_done([event.id])  # handled already: the run has nothing to read back
    before = {run.id for run in handle_events_runs()}
    assert isinstance(choose_runner(Settings.for_sandbox(NOWHERE), store, "prefect"), AsFlowRun)
    runner = AsFlowRun(store, {"sandbox_url": NOWHERE, "database_url": store_url})
    runner.run([event.id], str(event.claim))
    [run] = [run for run in handle_events_runs() if run.id not in before]
    assert run.parameters == {
        "event_ids": [event.id],
        "sandbox_url": NOWHERE,
        "database_url": store_url,
    }
    assert run.state is not None and run.state.is_completed()


def test_a_failed_run_is_failed_in_prefect_and_its_events_are_pending_again(
    prefect_server: None, store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMSYNC_HTTP_MAX_ATTEMPTS", "1")  # fail at once: nobody answers
    settings = Settings.for_sandbox(NOWHERE, database_url=store_url)
    store.inbox.add("hubspot", [Delivery("fails-1", DEAL_STAGE)])
    before = {run.id for run in handle_events_runs()}
    runner = AsFlowRun(store, parameters={"sandbox_url": NOWHERE, "database_url": store_url})
    dispatcher = Dispatcher(settings, store, runner=runner, own_writes=OwnWrites(settings))
    report = dispatcher.run_once(wait=True)
    assert report.claimed == 1 and report.error, "the run's failure reaches the dispatcher"
    [run] = [run for run in handle_events_runs() if run.id not in before]
    assert run.state is not None and run.state.is_failed()
    [pending] = store.inbox.events(status=PENDING)
    assert pending.error and pending.attempts == 1
