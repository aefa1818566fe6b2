"""Replaying dead letters after a fix: the records that now validate reach the store
exactly as a clean sync would have stored them (with the context their builders need),
the others keep their letter with the reason they fail now, and demand is published once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from sqlalchemy import update
from typer.testing import CliRunner

from connectors import registry
from connectors.freshdesk import client as freshdesk
from connectors.hubspot import client as hubspot
from connectors.intercom import client as intercom
from connectors.jira import client as jira
from connectors.salesforce import client as salesforce
from connectors.settings import Settings
from connectors.zendesk import client as zendesk
from flows.pipeline import pull_source, run_cycle
from flows.replay import replay_dead_letters
from models import RecordKind
from pmsync.cli import app
from store import CONTEXT_KEY, Store
from store.schema import dead_letters

KINDS = ("issue", "feedback", "deal", "account", "tool_link")
# Every builder a connector validates records with: (tool, module, function, kind).
BUILDERS = [
    ("jira", jira, "issue_from_raw", "issue"),
    ("jira", jira, "remote_link_from_raw", "tool_link"),  # the sandbox plants remote links
    ("zendesk", zendesk, "ticket_from_raw", "feedback"),
    ("zendesk", zendesk, "organization_from_raw", "account"),
    ("zendesk", zendesk, "jira_link_from_raw", "tool_link"),
    ("intercom", intercom, "conversation_from_raw", "feedback"),
    ("intercom", intercom, "company_from_raw", "account"),
    ("freshdesk", freshdesk, "ticket_from_raw", "feedback"),
    ("freshdesk", freshdesk, "company_from_raw", "account"),
    ("hubspot", hubspot, "deal_from_raw", "deal"),
    ("hubspot", hubspot, "company_from_raw", "account"),
    ("salesforce", salesforce, "opportunity_from_raw", "deal"),
    ("salesforce", salesforce, "account_from_raw", "account"),
]


def snapshot(store: Store) -> dict[tuple[str, str, str], Any]:
    return {
        (record.source, kind, record.id): record.model_dump(mode="json")
        for kind in KINDS
        for record in store.records.load(kind)
    }


def broken(builder: Callable[..., Any], fails: Callable[[dict[str, Any]], bool]) -> Any:
    """A builder with a bug: it refuses the records `fails` picks, as pmsync would have
    before a fix (a too strict parser, a setting it misread)."""

    def build(raw: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if fails(raw):
            raise ValueError("status: a value this version of pmsync does not know")
        return builder(raw, *args, **kwargs)

    return build


def every_other(raw: dict[str, Any]) -> bool:
    return sum(map(ord, str(raw.get("id") or raw.get("Id")))) % 2 == 0


def test_every_kind_a_connector_dead_letters_can_be_replayed() -> None:
    """A letter with no rebuild function would sit in the table forever."""
    assert {(tool, kind) for tool, _, _, kind in BUILDERS} == {
        (v.name, kind) for v in registry.vendors() for kind in v.rebuilders
    }


@pytest.mark.parametrize(
    ("tool", "module", "name", "kind"), BUILDERS, ids=[f"{b[0]}-{b[3]}" for b in BUILDERS]
)
def test_after_a_fix_replay_stores_what_a_clean_sync_would_have(
    settings: Settings,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool: str,
    module: ModuleType,
    name: str,
    kind: str,
) -> None:
    """A Zendesk ticket's requester comes from the export's sideload, an Intercom
    conversation's company from its contact, a HubSpot deal's companies from associations,
    Salesforce's URLs from the token: a replay that lost that context would store records
    with no customer, and the demand on the tickets would drop."""
    monkeypatch.setattr(module, name, broken(getattr(module, name), every_other))
    pull_source(settings, store, tool, full=True)
    letters = store.dead_letters.all()
    assert letters and {(d["source"], d["kind"]) for d in letters} == {(tool, kind)}
    monkeypatch.undo()  # the fix ships

    report = replay_dead_letters(settings, store, relink=False)

    assert sorted(report.moved) == sorted(d["id"] for d in letters)
    assert report.still_bad == {} and store.dead_letters.all() == []
    clean = Store(f"sqlite:///{tmp_path / 'clean.db'}", upgrade=True)
    pull_source(settings, clean, tool, full=True)
    assert snapshot(store) == snapshot(clean)


def test_letters_that_still_fail_stay_with_the_reason_they_fail_now(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin reads the reason to decide what to fix: after a replay it must be today's
    reason, not the one from when the record first failed."""
    monkeypatch.setattr(hubspot, "deal_from_raw", broken(hubspot.deal_from_raw, every_other))
    pull_source(settings, store, "hubspot", full=True)
    letters = store.dead_letters.all()
    store.dead_letters.update_reasons({d["id"]: "amount: the old reason" for d in letters})

    report = replay_dead_letters(settings, store, relink=False)

    assert report.moved == [] and set(report.still_bad) == {d["id"] for d in letters}
    assert {d["reason"] for d in store.dead_letters.all()} == {
        "ValueError: status: a value this version of pmsync does not know"
    }


def test_a_letter_the_store_has_since_outgrown_is_resolved_without_going_back(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool served the record fixed later and a sync stored it: replaying the older
    letter must not put the older version back."""
    monkeypatch.setattr(jira, "issue_from_raw", broken(jira.issue_from_raw, every_other))
    pull_source(settings, store, "jira", full=True)
    [letter, *_] = store.dead_letters.all()
    monkeypatch.undo()
    pull_source(settings, store, "jira", full=True)  # the fixed code stores every issue
    newer = next(i for i in store.records.load(RecordKind.ISSUE) if i.id == letter["record_id"])
    later = newer.model_copy(
        update={"summary": "Renamed since", "updated_at": newer.updated_at + timedelta(days=1)}
    )
    store.records.save_page([later])
    with store.engine.begin() as conn:  # the letter is open again, as if never resolved
        conn.execute(
            update(dead_letters).where(dead_letters.c.id == letter["id"]).values(resolved=False)
        )

    report = replay_dead_letters(settings, store, ids=[letter["id"]], relink=False)

    assert report.superseded == [letter["id"]] and report.moved == []
    assert (
        next(i for i in store.records.load(RecordKind.ISSUE) if i.id == letter["record_id"])
        == later
    )


def jira_writes(url: str) -> dict[str, int]:
    routes = requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["routes"]
    reads = ("GET", "POST /rest/api/3/search")
    return {route: n for route, n in routes.items() if not route.startswith(reads)}


def test_replay_from_the_command_line_relinks_and_publishes_once(
    settings: Settings, store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin's path: list the letters, look at one (its payload and the context kept
    with it), fix, replay; the ticket's request then counts on the Jira issue it cites,
    written once, and the letter is gone from the list."""
    cited = requests.get(
        f"{sandbox_url}/zendesk/api/v2/incremental/tickets/cursor.json",
        params={"start_time": 0, "include": "users"},
        auth=("demo@example.com/token", "sandbox"),
        timeout=30,
    ).json()["tickets"]
    truth = requests.get(f"{sandbox_url}/_sandbox/truth", timeout=30).json()["links"]
    linked = {(t["source"], str(t["record_id"])) for t in truth if t["method"] == "cited_key"}
    ticket = next(t for t in cited if ("zendesk", str(t["id"])) in linked and t["requester_id"])
    monkeypatch.setattr(
        zendesk,
        "ticket_from_raw",
        broken(zendesk.ticket_from_raw, lambda raw: raw.get("id") == ticket["id"]),
    )
    run_cycle(settings, store)
    monkeypatch.undo()
    env = {"PMSYNC_DATABASE_URL": settings.database_url}
    runner = CliRunner()

    listed = json.loads(runner.invoke(app, ["deadletters", "list", "--json"], env=env).stdout)
    assert [(d["source"], d["record_id"]) for d in listed] == [("zendesk", str(ticket["id"]))]
    shown = json.loads(
        runner.invoke(app, ["deadletters", "show", str(listed[0]["id"])], env=env).stdout
    )
    assert shown["payload"]["subject"] == ticket["subject"]
    assert shown["payload"][CONTEXT_KEY]["users"][0]["id"] == ticket["requester_id"]
    before = jira_writes(sandbox_url)

    done = runner.invoke(
        app,
        ["deadletters", "replay", "--reason", "does not know", "--sandbox", sandbox_url, "--json"],
        env=env,
    )

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["moved"] == [listed[0]["id"]] and report["published"]["written"] >= 1
    stored = next(f for f in store.records.load(RecordKind.FEEDBACK) if f.id == str(ticket["id"]))
    assert stored.requester_email  # the sideloaded requester, from the letter's context
    assert any(link.record_id == str(ticket["id"]) for link in store.links.all())
    after = jira_writes(sandbox_url)
    edits = after.get("PUT /rest/api/3/issue/{key}", 0) - before.get(
        "PUT /rest/api/3/issue/{key}", 0
    )
    assert edits == report["published"]["written"], "one edit per issue whose demand moved"
    assert json.loads(runner.invoke(app, ["deadletters", "list", "--json"], env=env).stdout) == []
    missing = runner.invoke(app, ["deadletters", "show", "999999"], env=env)
    assert missing.exit_code == 2 and "no dead letter 999999" in missing.output


def test_a_letter_kept_without_its_customer_context_waits_for_the_next_sync(
    settings: Settings, store: Store
) -> None:
    """Rebuilt without its sideloaded requester, a Zendesk ticket would count for no
    customer and lower the demand on the ticket: such a letter (from an older pmsync)
    stays, saying how it will be fixed."""
    from store import DeadLetter

    raw = {
        "id": 77,
        "subject": "SSO please",
        "requester_id": 5,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    store.records.save_page([], [DeadLetter("zendesk", "feedback", "77", "old", raw)])

    report = replay_dead_letters(settings, store, relink=False)

    assert report.moved == [] and "_context" in report.still_bad[store.dead_letters.all()[0]["id"]]
    assert store.records.load(RecordKind.FEEDBACK) == []
