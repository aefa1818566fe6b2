"""A request's importance (1 to 3) weighs an issue's demand: from its ticket's priority, or
a person's word that no sync undoes; the weighted count is in the report, the property and,
only when it says something, the comment; and an upgrade rewrites no ticket for it."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from connectors.freshdesk import client as freshdesk
from connectors.intercom import client as intercom
from connectors.jira.comment import comment_basis, numbers_changed, render_comment
from connectors.settings import Settings
from connectors.zendesk import client as zendesk
from flows.pipeline import run_cycle
from linking.demand import content_hash
from linking.importance import from_priority
from models import DemandSummary
from pmsync.cli import app
from pmsync.report_cmd import Query, gather
from services.demand import demand
from services.publish import publish_all
from store import Store
from store.schema import publish_ledger, records
from tests.jira_view import assert_ticket_shows, demand_property
from tests.oracle import expected_demand

NOW = "2026-01-02T03:04:05Z"


def cli(store_url: str, *args: str) -> str:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def summary(requests: int, weighted: int) -> DemandSummary:
    return DemandSummary(
        issue_key="ANA-1",
        requests=requests,
        weighted_requests=weighted,
        customers=1,
        revenue=Decimal(1000),
        open_pipeline=Decimal(0),
    )


@pytest.mark.parametrize(
    ("priority", "importance"),
    [(None, 1), ("low", 1), ("normal", 1), ("high", 2), ("urgent", 3), ("URGENT", 3), ("?", 1)],
)
def test_priority_gives_the_default_importance(priority: str | None, importance: int) -> None:
    assert from_priority(priority) == importance


def test_each_tool_priority_is_kept_in_one_vocabulary() -> None:
    """Zendesk's words, Freshdesk's numbers 1-4 and Intercom's flag all land as low, normal,
    high or urgent (or nothing)."""
    base = {"id": 1, "subject": "s", "created_at": NOW, "updated_at": NOW}
    assert zendesk.ticket_from_raw({**base, "priority": "urgent"}, "https://z", {}).priority == (
        "urgent"
    )
    assert zendesk.ticket_from_raw({**base, "priority": None}, "https://z", {}).priority is None
    for number, word in ((1, "low"), (2, "normal"), (3, "high"), (4, "urgent")):
        raw = {**base, "priority": number, "status": 2}
        assert freshdesk.ticket_from_raw(raw, "https://f").priority == word
    conversation = {"id": "7", "created_at": 1, "updated_at": 1, "source": {}}
    flagged = intercom.conversation_from_raw({**conversation, "priority": "priority"}, None, {})
    plain = intercom.conversation_from_raw({**conversation, "priority": "not_priority"}, None, {})
    assert (flagged.priority, plain.priority) == ("high", None)


def test_weighted_requests_equal_to_the_requests_hash_as_before_the_field() -> None:
    """An upgrade rewrites no ticket whose requests all weigh 1: the summary hashes as a
    summary made before weighted_requests existed; a weight above 1 is a change."""
    older = DemandSummary.model_validate(
        {k: v for k, v in summary(4, 4).model_dump(mode="json").items() if k != "weighted_requests"}
    )
    assert content_hash(summary(4, 4)) == content_hash(older)
    assert content_hash(summary(4, 6)) != content_hash(older)


def test_the_comment_reads_as_before_unless_a_request_weighs_more() -> None:
    """The comment's lines stay as they were; one short line is added only when the
    weighted count differs from the requests, and a comment shown before the line existed
    is not out of date for it."""
    at = datetime(2026, 1, 2, tzinfo=UTC)
    plain = render_comment(summary(4, 4), None, at)["content"]
    weighed = render_comment(summary(4, 7), None, at)["content"]
    added = [n for n in weighed if "Weighted by importance" in json.dumps(n)]
    assert "Weighted by importance" not in json.dumps(plain)
    assert len(added) == 1 and "Weighted by importance: 7 " in json.dumps(added)
    assert [n for n in weighed if n not in added] == plain
    shown_before = {k: v for k, v in comment_basis(summary(4, 4)).items()}
    assert "weighted" not in shown_before
    assert not numbers_changed(shown_before, summary(4, 4))
    assert numbers_changed(shown_before, summary(4, 7))


def test_the_weighted_count_is_on_the_ticket_and_in_the_report(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Each issue's weighted requests equal the oracle's, from the tools' own priorities,
    in the report and in the issue property."""
    run_cycle(settings, store)
    want = expected_demand(sandbox_url)
    assert any(w["weighted_requests"] > w["requests"] for w in want.values())
    assert_ticket_shows(sandbox_url, want)
    rows = {r.key: r.demand for r in gather(settings, store, Query(sort="importance")).rows}
    assert {k: d.weighted_requests for k, d in rows.items()} == {
        k: w["weighted_requests"] for k, w in want.items()
    }


def test_a_person_s_importance_counts_and_survives_a_full_resync(
    settings: Settings, store: Store, store_url: str, sandbox_url: str
) -> None:
    run_cycle(settings, store)
    link = next(x for x in store.links.all(suggested=False) if x.kind == "feedback")
    record, key = f"{link.source}:{link.record_id}", link.issue_key
    before = demand_property(sandbox_url, key)
    assert before is not None
    shown = cli(store_url, "links", "importance", record)
    was = int(shown.split("importance ")[1].split()[0])
    new = 1 if was == 3 else 3
    cli(store_url, "links", "importance", record, str(new))
    assert key in store.ledger.pending()
    run_cycle(settings, store)
    after = demand_property(sandbox_url, key)
    assert after is not None
    assert after["weighted_requests"] == before.get("weighted_requests", before["requests"]) + (
        new - was
    )
    run_cycle(settings, store, full=True)
    again = demand_property(sandbox_url, key)
    assert again is not None and again["weighted_requests"] == after["weighted_requests"]
    cli(store_url, "links", "importance", record, "--clear")
    run_cycle(settings, store)
    cleared = demand_property(sandbox_url, key)
    assert cleared is not None
    assert cleared["weighted_requests"] == after["weighted_requests"] - (new - was)


def test_the_links_csv_sets_importance(
    settings: Settings, store: Store, store_url: str, tmp_path: Path
) -> None:
    """The export shows each suggested request's importance; a changed one is applied, an
    unchanged one is not pinned, and a bad one applies nothing."""
    run_cycle(settings, store)
    rows = list(csv.DictReader(io.StringIO(cli(store_url, "links", "export", "--suggested"))))
    feedback = [r for r in rows if r["importance"]]
    assert feedback and {r["importance"] for r in feedback} <= {"1", "2", "3"}
    target = feedback[0]
    target["importance"] = "3" if target["importance"] != "3" else "2"
    path = tmp_path / "s.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert "1 importances set" in cli(store_url, "links", "apply", str(path))
    from store.importance import Importances

    assert Importances(store.engine).all() == {
        (target["source"], target["record_id"]): int(target["importance"])
    }
    target["importance"] = "5"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["links", "apply", str(path)], env=env)
    assert result.exit_code == 2 and "not 1, 2 or 3" in result.output


def test_an_upgrade_rewrites_only_the_issues_whose_requests_weigh_more(
    settings: Settings, store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store an older pmsync filled (every request weighing 1, feedback kept without a
    priority, ledger entries without weighted requests): an incremental run and a relink
    and publish of every issue write nothing; the full re-sync that reads the priorities
    rewrites once exactly the issues some request of which weighs more than 1."""
    monkeypatch.setattr("linking.demand.importance_of", lambda item, chosen: 1)
    run_cycle(settings, store)
    monkeypatch.undo()
    with store.engine.begin() as conn:
        for row in conn.execute(records.select().where(records.c.kind == "feedback")):
            payload = {k: v for k, v in row.payload.items() if k != "priority"}
            mine = (records.c.source == row.source) & (records.c.record_id == row.record_id)
            conn.execute(
                update(records).where(mine, records.c.kind == "feedback"), {"payload": payload}
            )
        ledger = list(conn.execute(publish_ledger.select()))
        for row in ledger:
            kept = {k: v for k, v in row.summary.items() if k != "weighted_requests"}
            key = publish_ledger.c.issue_key == row.issue_key
            conn.execute(update(publish_ledger).where(key), {"summary": kept})
    assert run_cycle(settings, store).published["written"] == 0
    assert publish_all(settings, store, demand(settings, store)).written == 0
    # The property on the tickets names the weighted requests (this pmsync wrote it): the
    # ledger says so too, or the full re-sync would take every property for drifted.
    with store.engine.begin() as conn:
        for row in ledger:
            key = publish_ledger.c.issue_key == row.issue_key
            conn.execute(update(publish_ledger).where(key), {"summary": row.summary})
    want = expected_demand(sandbox_url)
    heavier = {k for k, w in want.items() if w["weighted_requests"] != w["requests"]}
    assert heavier
    assert run_cycle(settings, store, full=True).published["written"] == len(heavier)
    assert run_cycle(settings, store).published["written"] == 0
