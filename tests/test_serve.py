"""`pmsync serve`: what it serves, how often its runner polls, and where its runs' processes
come from (a forkserver with Prefect and pmsync imported, issue 6's latency)."""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.connection import Connection
from typing import Any

import pytest

from connectors import registry


def _modules_at_start(conn: Connection) -> None:
    """A child's target: which heavy modules it had before doing anything. This module
    imports only the standard library and pytest at its top, so whatever of Prefect and
    pmsync the child holds came from the process it was forked from."""
    preloaded = sorted(
        m for m in ("prefect.flow_engine", "flows.events", "linking.text") if m in sys.modules
    )
    import numpy as np  # preloaded: its BLAS thread pool must work again after the fork

    product = float((np.ones((300, 300)) @ np.ones((300, 300)))[0, 0])
    conn.send((preloaded, product))
    conn.close()


def test_every_deployment_is_served_with_its_options() -> None:
    from connectors.settings import Settings
    from deployments.serve import ONE_AT_A_TIME, build_deployments

    settings = Settings.for_sandbox("http://127.0.0.1:1")
    served = {item.name: item for item in build_deployments(settings)}
    assert set(served) == {
        "sync",
        *(f"sync-{source}" for source in registry.configured(settings)),
        "backfill",
        "backfill-part",
        "handle-events",
    }
    assert served["sync"].options["schedules"]
    assert served["sync"].options["concurrency_limit"] == ONE_AT_A_TIME
    assert served["backfill-part"].options["parameters"] == {"relink": False}
    assert served["handle-events"].flow.name == "handle-events"
    assert "concurrency_limit" not in served["handle-events"].options


def test_the_events_deployment_takes_default_parameters() -> None:
    from deployments.serve import events_deployment

    served = events_deployment({"sandbox_url": "http://sandbox"})
    assert served.options["parameters"] == {"sandbox_url": "http://sandbox"}
    assert "parameters" not in events_deployment().options


def test_the_runner_polls_well_under_a_second_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.serve import QUERY_SECONDS, QUERY_SECONDS_ENV, query_seconds
    from models import ConfigError

    monkeypatch.delenv(QUERY_SECONDS_ENV, raising=False)
    assert query_seconds() == QUERY_SECONDS < 1
    monkeypatch.setenv(QUERY_SECONDS_ENV, "2.5")
    assert query_seconds() == 2.5
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv(QUERY_SECONDS_ENV, bad)
        with pytest.raises(ConfigError, match=QUERY_SECONDS_ENV):
            query_seconds()


def test_serving_adds_each_flow_to_one_runner_with_the_poll_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prefect.runner

    import deployments.serve as serve

    made: list[Any] = []

    class Runner:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            self.flows: list[tuple[Any, dict[str, Any]]] = []
            self.query_seconds = kwargs["query_seconds"]
            made.append(self)

        def add_flow(self, flow: Any, **kwargs: Any) -> None:
            self.flows.append((flow, kwargs))

        async def start(self) -> None:
            return None

    preloaded: list[bool] = []

    def preload() -> bool:
        preloaded.append(True)
        return True

    monkeypatch.setattr(prefect.runner, "Runner", Runner)
    monkeypatch.setattr(serve, "preload_flow_runs", preload)
    served = [serve.events_deployment({"sandbox_url": "http://sandbox"})]
    serve.serve_flows(served, seconds=0.5)
    (runner,) = made
    assert runner.kwargs["query_seconds"] == 0.5
    assert runner.flows == [
        (served[0].flow, {"name": "handle-events", **served[0].options}),
    ]
    assert preloaded == [True]
    serve.serve_flows(served, preload=False)
    assert made[1].query_seconds == serve.query_seconds()
    assert preloaded == [True]


def test_without_the_module_prefect_is_expected_to_use_runs_are_spawned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prefect.flow_engine

    from deployments.serve import preload_flow_runs

    monkeypatch.setattr(prefect.flow_engine, "multiprocessing", object())
    assert preload_flow_runs() is False


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here"
)
def test_runs_are_forked_from_a_forkserver_that_imported_prefect_and_pmsync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The context Prefect's `run_flow_in_subprocess` asks for ("spawn") is the
    forkserver's, and its children start with Prefect's engine and the flows imported."""
    import prefect.flow_engine

    from deployments.serve import preload_flow_runs

    monkeypatch.setattr(prefect.flow_engine, "multiprocessing", multiprocessing)
    assert preload_flow_runs() is True
    assert preload_flow_runs() is True  # a second call changes nothing
    proxy = prefect.flow_engine.multiprocessing
    context = proxy.get_context("spawn")
    assert context.get_start_method() == "forkserver"
    assert proxy.context is context and proxy.Process is multiprocessing.Process

    parent, child = context.Pipe()
    process = context.Process(target=_modules_at_start, args=(child,))
    process.start()
    try:
        assert parent.poll(60), "the forked child never answered"
        assert parent.recv() == (["flows.events", "linking.text", "prefect.flow_engine"], 300.0)
    finally:
        process.join(30)
    assert process.exitcode == 0
