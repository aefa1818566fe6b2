"""`pmsync serve`: what it serves and how often its runner polls."""

from __future__ import annotations

from typing import Any

import pytest

from connectors import registry


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

    monkeypatch.setattr(prefect.runner, "Runner", Runner)
    served = [serve.events_deployment({"sandbox_url": "http://sandbox"})]
    serve.serve_flows(served, seconds=0.5)
    (runner,) = made
    assert runner.kwargs["query_seconds"] == 0.5
    assert runner.flows == [
        (served[0].flow, {"name": "handle-events", **served[0].options}),
    ]
    serve.serve_flows(served)
    assert made[1].query_seconds == serve.query_seconds()
