"""What a product manager checks: `pmsync explain` adds up to the ticket's numbers, and a
person's confirm or reject outlives every later run."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from pmsync.cli import app
from store import Store
from tests.jira_view import issue_numbers
from tests.oracle import expected_demand


def explain_json(key: str, store_url: str) -> dict:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["explain", key, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_explain_matches_the_ticket_exactly(
    settings: Settings, store: Store, store_url: str, sandbox_url: str
) -> None:
    """Every number on the ticket equals the one explain shows, and explain's parts add up
    to it: its requests, its customers, its deals."""
    run_cycle(settings, store)
    for key in expected_demand(sandbox_url):
        report = explain_json(key, store_url)
        shown = issue_numbers(sandbox_url, key)
        numbers = report["numbers"]
        assert numbers["requests"] == shown["requests"] == len(report["requests"])
        assert numbers["customers"] == len(report["customers"])
        assert Decimal(numbers["revenue"]) == Decimal(str(shown["revenue"]))
        # The pipeline field carries the deals naming the issue (the default).
        assert Decimal(numbers["named_pipeline"]) == Decimal(str(shown["open_pipeline"]))
        revenue = sum(Decimal(d["amount"]) for d in report["deals"] if "revenue" in d["counts_in"])
        pipeline = sum(
            Decimal(d["amount"]) for d in report["deals"] if "open_pipeline" in d["counts_in"]
        )
        assert revenue == Decimal(numbers["revenue"])
        assert pipeline == Decimal(numbers["open_pipeline"])
        named = sum(Decimal(d["amount"]) for d in report["deals"] if f"names {key}" in d["why"])
        assert named == Decimal(numbers["named_pipeline"])


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_reject_and_confirm_outlive_later_runs(
    settings: Settings, store: Store, store_url: str, sandbox_url: str, full: bool
) -> None:
    """A rejected link stops counting and never comes back; a confirmed pair counts even
    though no signal finds it; both take effect at the next sync, incremental or full,
    and hold through the one after."""
    run_cycle(settings, store)
    key, want = max(expected_demand(sandbox_url).items(), key=lambda kv: kv[1]["requests"])
    victim = next(link for link in store.links.all(key) if link.kind == "feedback")
    outsider = next(
        f
        for f in store.records.load(RecordKind.FEEDBACK)
        if not any(link.record_id == f.id for link in store.links.all(key))
    )
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    runner = CliRunner()
    rejected = runner.invoke(
        app, ["links", "reject", f"{victim.source}:{victim.record_id}", key], env=env
    )
    assert rejected.exit_code == 0, rejected.output
    confirmed = runner.invoke(
        app, ["links", "confirm", f"{outsider.source}:{outsider.id}", key], env=env
    )
    assert confirmed.exit_code == 0, confirmed.output
    run_cycle(settings, store, full=full)
    run_cycle(settings, store)
    pairs = {(link.source, link.record_id) for link in store.links.all(key)}
    assert (victim.source, victim.record_id) not in pairs
    assert (outsider.source, outsider.id) in pairs
    assert issue_numbers(sandbox_url, key)["requests"] == want["requests"]  # -1 +1


def test_decisions_name_what_is_wrong(store_url: str, store: Store) -> None:
    """A malformed record reference or an unknown issue is refused with a clear message."""
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["links", "confirm", "1234", "ANA-1"], env=env)
    assert result.exit_code == 2 and "SOURCE:ID" in result.output
