"""Suggestions worth a person's minute: ranked by what they are worth, decided one at a
time in the terminal or many at once in a CSV, and every decision outlives a full re-sync."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from pmsync.cli import app
from store import Store
from tests.jira_view import issue_numbers


@pytest.fixture
def synced(settings: Settings, store: Store) -> Store:
    run_cycle(settings, store)
    assert store.links.all(suggested=True), "text matches below the threshold are suggestions"
    return store


def run(store_url: str, *args: str, input: str | None = None) -> str:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["links", *args], env=env, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def listed(store_url: str, *args: str) -> dict:
    return json.loads(run(store_url, "list", "--suggested", "--json", *args))


def test_suggestions_say_who_asks_what_it_is_worth_and_come_most_valuable_first(
    synced: Store, store_url: str
) -> None:
    first = listed(store_url, "--per-page", "5")
    assert first["total"] == len(synced.links.all(suggested=True))
    rows = first["suggestions"]
    assert len(rows) == min(5, first["total"])
    for row in rows:
        assert row["subject"] and row["customer"] and row["url"].startswith("http")
        assert row["issue_summary"] and 0 < row["confidence"] < 1
        assert row["score"] == pytest.approx(float(row["revenue"]) * row["confidence"], abs=0.01)
    everything = listed(store_url, "--per-page", "1000")["suggestions"]
    scores = [r["score"] for r in everything]
    assert scores == sorted(scores, reverse=True)
    second = listed(store_url, "--per-page", "5", "--page", "2")["suggestions"]
    assert [r["record_id"] for r in everything[5:10]] == [r["record_id"] for r in second]
    by_customers = listed(store_url, "--value", "customers", "--per-page", "1000")
    assert [r["score"] for r in by_customers["suggestions"]] == sorted(
        (r["score"] for r in by_customers["suggestions"]), reverse=True
    )


def test_review_confirms_rejects_and_skips_in_order(synced: Store, store_url: str) -> None:
    rows = listed(store_url, "--per-page", "3")["suggestions"]
    assert len(rows) == 3
    run(store_url, "review", input="c\nr\ns\nq\n")
    pair = lambda r: (r["source"], r["record_id"], r["issue_key"])  # noqa: E731
    assert synced.links.decisions() == {pair(rows[0]): "confirmed", pair(rows[1]): "rejected"}
    left = listed(store_url, "--per-page", "1000")["suggestions"]
    assert pair(rows[2]) in {pair(r) for r in left}
    assert not {pair(rows[0]), pair(rows[1])} & {pair(r) for r in left}


def test_decisions_from_a_csv_survive_a_full_resync(
    settings: Settings, synced: Store, store_url: str, sandbox_url: str, tmp_path: Path
) -> None:
    """A confirmed row counts on the ticket and a rejected one never links again, after
    `links apply` and a full re-sync that reads every record and relinks them."""
    exported = list(csv.DictReader(io.StringIO(run(store_url, "export", "--suggested", "--csv"))))
    assert exported and all(r["decision"] == "" for r in exported)
    confirm, reject = (
        exported[0],
        next(r for r in exported[1:] if r["issue_key"] != exported[0]["issue_key"]),
    )
    confirm["decision"], reject["decision"] = "confirm", "reject"
    path = tmp_path / "decisions.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    before = issue_numbers(sandbox_url, confirm["issue_key"])["requests"] or 0
    assert "1 confirmed, 1 rejected" in run(store_url, "apply", str(path))

    run_cycle(settings, synced, full=True)

    def status(row: dict) -> set[str]:
        return {
            x.status
            for x in synced.links.all(row["issue_key"])
            if (x.source, x.record_id) == (row["source"], row["record_id"])
        }

    assert status(confirm) == {"confirmed"}
    assert status(reject) == set()
    assert issue_numbers(sandbox_url, confirm["issue_key"])["requests"] == before + 1


def test_a_csv_with_a_bad_row_applies_nothing(
    synced: Store, store_url: str, tmp_path: Path
) -> None:
    link = synced.links.all(suggested=True)[0]
    path = tmp_path / "bad.csv"
    path.write_text(
        "decision,source,record_id,issue_key\n"
        f"confirm,{link.source},{link.record_id},{link.issue_key}\n"
        f"maybe,{link.source},{link.record_id},{link.issue_key}\n"
        f"reject,{link.source},{link.record_id},NOPE-1\n"
    )
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["links", "apply", str(path)], env=env)
    assert result.exit_code == 2
    assert "line 3" in result.output and "line 4" in result.output
    assert synced.links.decisions() == {}
