"""The connectors against the sandbox over real HTTP: what each tool deletes leaves the store
on the next incremental pull, and an incremental pull after a full one changes nothing."""

from __future__ import annotations

import pytest
import requests

from connectors.settings import Settings
from flows.pipeline import pull_source
from models import RecordKind
from store import Store

# (tool, the sandbox's kind, the store's kind): one of each tool's records to delete.
DELETABLE = [
    ("jira", "issue", "issue"),
    ("zendesk", "ticket", "feedback"),
    ("hubspot", "deal", "deal"),
    ("freshdesk", "ticket", "feedback"),
    ("salesforce", "opportunity", "deal"),
]


def stored_ids(store: Store, source: str, kind: str) -> set[str]:
    return {record.id for record in store.records.load(kind, source)}


@pytest.mark.parametrize(("tool", "sandbox_kind", "kind"), DELETABLE, ids=[d[0] for d in DELETABLE])
def test_a_record_deleted_in_the_tool_leaves_the_store_on_the_next_pull(
    settings: Settings, store: Store, sandbox_url: str, tool: str, sandbox_kind: str, kind: str
) -> None:
    """Deleted Jira issues vanish from search (the id sweep prunes them), Zendesk marks
    tickets deleted in its export, HubSpot archives deals, Freshdesk trashes tickets and
    Salesforce recycles opportunities: each must reach the store, and only that one."""
    pull_source(settings, store, tool, full=True)
    before = stored_ids(store, tool, kind)
    victim = sorted(before)[len(before) // 2]
    # A Jira issue is named by its key in the tool, by its id in the store.
    name = (
        next(i.key for i in store.records.load(RecordKind.ISSUE) if i.id == victim)
        if tool == "jira"
        else victim
    )
    requests.post(
        f"{sandbox_url}/_sandbox/delete",
        json={"tool": tool, "kind": sandbox_kind, "id": name},
        timeout=30,
    ).raise_for_status()

    pull_source(settings, store, tool, full=False)

    assert stored_ids(store, tool, kind) == before - {victim}


@pytest.mark.parametrize(
    "tool", ["jira", "zendesk", "intercom", "freshdesk", "hubspot", "salesforce"]
)
def test_an_incremental_pull_after_a_full_one_keeps_the_same_records(
    settings: Settings, store: Store, tool: str
) -> None:
    """Nothing changed in the tool: the saved cursors resume exactly, nothing is lost."""
    pull_source(settings, store, tool, full=True)
    before = store.records.count().get(tool)

    pull_source(settings, store, tool, full=False)

    assert before and store.records.count().get(tool) == before
