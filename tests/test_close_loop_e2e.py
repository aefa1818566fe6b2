"""Closing the loop against the sandbox: when an issue ships, each linked open ticket and
deal in every tool gets one note, and pmsync's own notes never cause another write."""

from __future__ import annotations

import requests

from connectors import registry
from connectors.notes import marker
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from store import Store


def writes(url: str) -> dict[str, int]:
    """Data writes per tool: POST/PUT/DELETE calls, less Salesforce's OAuth token request."""
    counts = requests.get(f"{url}/_sandbox/requests", timeout=30).json()
    token = counts["salesforce"]["routes"].get("POST /services/oauth2/token", 0)
    found = {tool: data["writes"] for tool, data in counts.items()}
    found["salesforce"] -= token
    return found


def open_records_by_issue(store: Store) -> dict[str, set[tuple[str, str]]]:
    """Each issue's linked (not suggested) open tickets and deals, as (source, id)."""
    records = {
        (r.source, r.id): r
        for kind in (RecordKind.FEEDBACK, RecordKind.DEAL)
        for r in store.records.load(kind)
    }
    by_issue: dict[str, set[tuple[str, str]]] = {}
    for link in store.links.all(suggested=False):
        record = records.get((link.source, link.record_id))
        if record is not None and record.is_open:
            by_issue.setdefault(link.issue_key, set()).add((link.source, link.record_id))
    return by_issue


def test_shipping_an_issue_notifies_every_open_record_once(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    run_cycle(settings, store)
    # The issue with open linked records in the most tools makes the strongest test.
    by_issue = open_records_by_issue(store)
    issues = {i.key: i for i in store.records.load(RecordKind.ISSUE)}
    key = max(
        (k for k in by_issue if issues[k].status_category != "done"),
        key=lambda k: (len({s for s, _ in by_issue[k]}), len(by_issue[k])),
    )
    open_records = by_issue[key]
    update = {"tool": "jira", "kind": "issue", "id": key, "changes": {"status": "Done"}}
    requests.post(f"{sandbox_url}/_sandbox/update", json=update, timeout=30).raise_for_status()

    run_cycle(settings, store)
    noted = {(s, r) for s, r, k, _ in store.loop.noted() if k == key}
    assert noted == open_records
    assert len({source for source, _ in noted}) >= 2, "the test should span several tools"
    mark = marker(key, "done")
    for source, record_id in noted:  # the notes are in the tools, not only in pmsync's ledger
        assert registry.vendor(source).notes(settings).find(record_id, mark), (source, record_id)

    before = writes(sandbox_url)
    again = run_cycle(settings, store)
    assert again.published["written"] == 0
    assert writes(sandbox_url) == before, "pmsync's own notes came back as new activity"
