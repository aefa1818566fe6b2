"""Drift repair and healing over real HTTP against the sandbox: what a person changes of
pmsync's writes on a Jira issue (a field, a label, the comment, the property), and a
second managed comment left by an old race, are put right by the next reconcile (`sync
--full`), and a sync with nothing changed writes nothing."""

from __future__ import annotations

import json
from typing import Any

import requests
from sqlalchemy import delete
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from pmsync.cli import app
from store import Store
from store.schema import publish_ledger
from tests.jira_view import FIELDS, MARKER, assert_ticket_shows, issue_numbers, managed_comments
from tests.oracle import AUTH, expected_demand


def api(url: str) -> str:
    return f"{url}/jira/rest/api/3"


def jira_writes(url: str) -> int:
    return int(requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["writes"])


def comments(url: str, key: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{api(url)}/issue/{key}/comment", auth=AUTH, timeout=30)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["comments"]
    return found


def doc(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def busiest(url: str) -> tuple[str, dict[str, Any]]:
    """The linked issue with the most requests (its label is a demand label)."""
    expected = expected_demand(url)
    key = max(expected, key=lambda k: (expected[k]["requests"], k))
    return key, expected


def ledger_comment(store: Store, key: str) -> str | None:
    return store.ledger.entries([key])[key].comment_id


def test_a_second_managed_comment_is_healed_to_one(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """An issue left with two demand comments by an old race (posted here by hand, as the
    API user) ends with one, the ledger's, showing the right numbers."""
    run_cycle(settings, store)
    key, expected = busiest(sandbox_url)
    kept = ledger_comment(store, key)
    stale = doc(f"Customer demand: 1 request. This is the {MARKER}: it is rewritten in place.")
    requests.post(
        f"{api(sandbox_url)}/issue/{key}/comment", auth=AUTH, json={"body": stale}, timeout=30
    ).raise_for_status()
    assert len(managed_comments(sandbox_url, key)) == 2

    result = run_cycle(settings, store, full=True)

    assert [c["id"] for c in comments(sandbox_url, key) if MARKER in json.dumps(c["body"])] == [
        kept
    ]
    assert result.repaired is not None and result.repaired.get("duplicates") == 1
    assert_ticket_shows(sandbox_url, expected)


def test_a_hand_edited_field_and_label_are_repaired_by_sync_full(
    sandbox_url: str, store_url: str
) -> None:
    """A person sets "Customer Requests" to 999 and removes the demand label: `sync` (no
    reconcile due) leaves them, `sync --full` puts back what the ledger says was written,
    and `status` counts the repair."""
    runner = CliRunner()
    env = {"PMSYNC_DATABASE_URL": store_url, "PMSYNC_TEXT_AUTO_THRESHOLD": "1.0"}
    first = runner.invoke(app, ["sync", "--sandbox", sandbox_url, "--json"], env=env)
    assert first.exit_code == 0, first.output
    key, expected = busiest(sandbox_url)
    issue = requests.get(f"{api(sandbox_url)}/issue/{key}", auth=AUTH, timeout=30).json()
    labels = issue["fields"]["labels"]
    demand = [label for label in labels if label.startswith("demand-")]
    assert demand, "the busiest issue carries a demand label"
    requests.put(
        f"{api(sandbox_url)}/issue/{key}",
        auth=AUTH,
        json={
            "fields": {FIELDS["requests"]: 999},
            "update": {"labels": [{"remove": label} for label in demand]},
        },
        timeout=30,
    ).raise_for_status()

    plain = runner.invoke(app, ["sync", "--sandbox", sandbox_url, "--json"], env=env)
    assert plain.exit_code == 0, plain.output
    assert issue_numbers(sandbox_url, key)["requests"] == 999, "no reconcile: nothing read back"

    full = runner.invoke(app, ["sync", "--sandbox", sandbox_url, "--full", "--json"], env=env)
    assert full.exit_code == 0, full.output
    repaired = json.loads(full.stdout)["repaired"]
    assert repaired["issues"] == 1 and repaired["fields"] == 1 and repaired["labels"] == 1
    assert_ticket_shows(sandbox_url, expected)
    after = requests.get(f"{api(sandbox_url)}/issue/{key}", auth=AUTH, timeout=30).json()
    assert set(demand) <= set(after["fields"]["labels"])
    status = runner.invoke(app, ["status", "--json"], env=env)
    assert json.loads(status.stdout)["drift_repaired"]["issues"] == 1


def test_an_edited_comment_is_restored_in_place(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A person rewrites the managed comment (marker and numbers gone): the next reconcile
    restores it in place, the same comment, with the right numbers and no mail."""
    run_cycle(settings, store)
    key, expected = busiest(sandbox_url)
    comment_id = ledger_comment(store, key)
    requests.put(
        f"{api(sandbox_url)}/issue/{key}/comment/{comment_id}",
        auth=AUTH,
        json={"body": doc("999 customers want this, trust me")},
        timeout=30,
    ).raise_for_status()
    assert managed_comments(sandbox_url, key) == []

    result = run_cycle(settings, store, full=True)

    [shown] = managed_comments(sandbox_url, key)
    assert f"{expected[key]['requests']} requests" in shown, shown
    assert [c["id"] for c in comments(sandbox_url, key) if MARKER in json.dumps(c["body"])] == [
        comment_id
    ]
    assert result.repaired == {"issues": 1, "comment_edited": 1}
    assert_ticket_shows(sandbox_url, expected)


def test_a_deleted_comment_is_recreated_once(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A person deletes the managed comment: the next reconcile posts it again, and the
    one after finds it and writes nothing."""
    run_cycle(settings, store)
    key, expected = busiest(sandbox_url)
    comment_id = ledger_comment(store, key)
    requests.delete(
        f"{api(sandbox_url)}/issue/{key}/comment/{comment_id}", auth=AUTH, timeout=30
    ).raise_for_status()
    assert managed_comments(sandbox_url, key) == []

    first = run_cycle(settings, store, full=True)
    writes = jira_writes(sandbox_url)
    second = run_cycle(settings, store, full=True)

    assert first.repaired == {"issues": 1, "comment_gone": 1}
    assert second.repaired == {"issues": 0} and jira_writes(sandbox_url) == writes
    assert len(managed_comments(sandbox_url, key)) == 1
    assert ledger_comment(store, key) not in (None, comment_id)
    assert_ticket_shows(sandbox_url, expected)


def test_a_removed_property_is_written_again(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    run_cycle(settings, store)
    key, expected = busiest(sandbox_url)
    requests.delete(
        f"{api(sandbox_url)}/issue/{key}/properties/pmsync.demand", auth=AUTH, timeout=30
    ).raise_for_status()

    result = run_cycle(settings, store, full=True)

    assert result.repaired == {"issues": 1, "property": 1}
    assert_ticket_shows(sandbox_url, expected)


def test_a_reconcile_without_drift_writes_nothing(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Reading back compares exactly (numbers as Jira returns them, the property without
    its time): a reconcile over unchanged issues makes no write at all, and an
    incremental sync reads nothing back."""
    run_cycle(settings, store)
    writes = jira_writes(sandbox_url)

    full = run_cycle(settings, store, full=True)
    incremental = run_cycle(settings, store)

    assert full.repaired == {"issues": 0} and full.published["written"] == 0
    assert incremental.repaired is None
    assert jira_writes(sandbox_url) == writes
    assert_ticket_shows(sandbox_url, expected_demand(sandbox_url))


def test_a_sync_that_lost_an_issues_ledger_entry_heals_its_duplicates(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Outside a reconcile, an issue carrying pmsync's property but no ledger entry has
    its comments looked up when it is written: of two managed comments, the newest is kept
    and rewritten, the other deleted."""
    run_cycle(settings, store)
    key, expected = busiest(sandbox_url)
    stale = doc(f"Customer demand: 1 request. This is the {MARKER}: it is rewritten in place.")
    newer = requests.post(
        f"{api(sandbox_url)}/issue/{key}/comment", auth=AUTH, json={"body": stale}, timeout=30
    )
    newer.raise_for_status()
    with store.engine.begin() as conn:
        conn.execute(delete(publish_ledger).where(publish_ledger.c.issue_key == key))
    store.ledger.mark_pending({key})

    result = run_cycle(settings, store)

    assert result.repaired is None, "no reconcile: nothing read back in bulk"
    assert result.published["written"] == 1
    assert ledger_comment(store, key) == newer.json()["id"]
    assert len(managed_comments(sandbox_url, key)) == 1
    assert_ticket_shows(sandbox_url, expected)


def test_the_sandbox_deletes_a_comment_as_jira_documents(sandbox_url: str) -> None:
    """`DELETE /rest/api/3/issue/{key}/comment/{id}`: 204 with no body, then 404 with
    Jira's error body; the issue's other comments stay."""
    key = "ANA-1"
    posted = [
        requests.post(
            f"{api(sandbox_url)}/issue/{key}/comment", auth=AUTH, json={"body": doc(t)}, timeout=30
        ).json()["id"]
        for t in ("first", "second")
    ]
    url = f"{api(sandbox_url)}/issue/{key}/comment/{posted[0]}"
    gone = requests.delete(url, auth=AUTH, timeout=30)
    again = requests.delete(url, auth=AUTH, timeout=30)
    assert (gone.status_code, gone.content) == (204, b"")
    assert again.status_code == 404 and again.json()["errorMessages"]
    assert [c["id"] for c in comments(sandbox_url, key)][-1:] == [posted[1]]
    assert posted[0] not in [c["id"] for c in comments(sandbox_url, key)]
