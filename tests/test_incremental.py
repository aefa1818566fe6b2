"""Incremental linking and demand against the sandbox: a sync after changes relinks only
what changed, yet leaves the tickets exactly as a reconcile (which relinks and sums
everything) would."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.http import ApiError
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import Link, RecordKind
from services.incremental import LINKED, RECONCILED, reconcile_due
from services.publish import Plan, Publisher
from store import Store


def update(url: str, tool: str, kind: str, record_id: Any, changes: dict[str, Any]) -> None:
    body = {"tool": tool, "kind": kind, "id": record_id, "changes": changes}
    requests.post(f"{url}/_sandbox/update", json=body, timeout=30).raise_for_status()


def counted(store: Store) -> set[tuple[str, str, str, str]]:
    return {(x.source, x.record_id, x.issue_key, x.method) for x in store.links.all() if x.counts}


def published(store: Store) -> dict[str, str]:
    return {key: entry.content_hash for key, entry in store.ledger.entries().items()}


def linked_deal(store: Store) -> Link:
    return next(x for x in store.links.all() if x.kind == "deal" and x.counts)


def test_an_incremental_sync_leaves_the_tickets_as_a_reconcile_would(
    sandbox_url: str, any_store_url: str
) -> None:
    store_url = any_store_url
    settings = Settings.for_sandbox(
        sandbox_url, database_url=store_url, tag_map=("roadmap:pmsync-roadmap",)
    )
    store = Store(store_url, upgrade=True)
    run_cycle(settings, store, full=True)
    issue = next(i for i in store.records.load(RecordKind.ISSUE) if i.status_category != "done")
    deal = linked_deal(store)
    # People at work: tickets opened and closed, issues resolved, deals moved; one issue
    # gets the label the roadmap tag maps to; one linked deal changes its amount.
    answer = requests.post(
        f"{sandbox_url}/_sandbox/activity",
        json={"kind": "mixed", "count": 25, "seed": 11},
        timeout=30,
    )
    answer.raise_for_status()
    update(sandbox_url, "jira", "issue", issue.key, {"labels": [*issue.labels, "pmsync-roadmap"]})
    crm_kind = "deal" if deal.source == "hubspot" else "opportunity"
    amount = {"hubspot": "amount", "salesforce": "Amount"}[deal.source]
    update(sandbox_url, deal.source, crm_kind, deal.record_id, {amount: 123456})
    reconciled = store.cursors.get(RECONCILED)
    assert not reconcile_due(settings, store, full=False)

    result = run_cycle(settings, store)

    assert store.cursors.get(RECONCILED) == reconciled, "the sync reconciled instead"
    assert result.published["written"] > 0
    assert any(x.method == "tag" and x.issue_key == issue.key for x in store.links.all())
    links, ledger = counted(store), published(store)
    check = run_cycle(settings, store, full=True)
    assert check.published == {"written": 0, "unchanged": len(ledger), "failed": 0}
    assert counted(store) == links
    assert published(store) == ledger
    assert store.ledger.pending() == set()


def test_a_sync_that_finds_nothing_changed_sums_no_issue_and_writes_nothing(
    settings: Settings, store: Store
) -> None:
    run_cycle(settings, store, full=True)
    run_cycle(settings, store)  # re-reads the issues pmsync's own publishing edited
    linked = store.cursors.get(LINKED)

    result = run_cycle(settings, store)

    assert result.links == store.links.count() > 0
    assert result.published == {"written": 0, "unchanged": 0, "failed": 0}
    assert store.cursors.get(LINKED) != linked
    assert store.ledger.pending() == set()


def test_an_issue_that_failed_to_publish_waits_for_the_next_sync(
    sandbox_url: str, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cycle(settings, store, full=True)
    deal = linked_deal(store)
    crm_kind = "deal" if deal.source == "hubspot" else "opportunity"
    amount = {"hubspot": "amount", "salesforce": "Amount"}[deal.source]
    update(sandbox_url, deal.source, crm_kind, deal.record_id, {amount: 654321})

    def refused(self: Publisher, plan: Plan, field_ids: dict[str, str]) -> None:
        raise ApiError("jira", f"503 on {plan.key}", 503)

    with monkeypatch.context() as patched:
        patched.setattr(Publisher, "apply", refused)
        failed = run_cycle(settings, store)

    assert failed.published["failed"] > 0
    assert len(store.ledger.pending()) == failed.published["failed"]
    retried = run_cycle(settings, store)
    assert retried.published["written"] == failed.published["failed"]
    assert store.ledger.pending() == set()


def test_a_new_issue_links_the_tickets_that_cited_its_key_before_it_existed(
    sandbox_url: str, any_store_url: str
) -> None:
    """Found through the records that mention the key (a text search in the store)."""
    settings = Settings.for_sandbox(sandbox_url, database_url=any_store_url)
    store = Store(any_store_url, upgrade=True)
    run_cycle(settings, store, full=True)
    ticket = next(f for f in store.records.load(RecordKind.FEEDBACK) if f.source == "zendesk")
    update(sandbox_url, "zendesk", "ticket", int(ticket.id), {"subject": "We need ANA-900 soon"})
    run_cycle(settings, store)
    assert not store.links.of_issues(["ANA-900"]), "a key no issue has yet links nothing"
    auth = (settings.jira_email, settings.jira_api_token.get_secret_value())  # type: ignore[union-attr]
    issue = requests.get(f"{settings.jira_url}/rest/api/3/issue/ANA-1", auth=auth, timeout=30)
    issue.raise_for_status()
    record = {**issue.json(), "key": "ANA-900", "id": "19900"}
    body = {"tool": "jira", "kind": "issue", "record": record}
    requests.post(f"{sandbox_url}/_sandbox/inject", json=body, timeout=30).raise_for_status()
    update(sandbox_url, "jira", "issue", "ANA-900", {"summary": "Export to the data lake"})

    result = run_cycle(settings, store)

    assert [x.record_id for x in store.links.of_issues(["ANA-900"])] == [ticket.id]
    assert "ANA-900" in store.ledger.entries()
    assert result.published["written"] >= 1


def test_a_ticket_solved_keeps_its_links_unrelinked_and_its_issues_are_summed_again(
    sandbox_url: str, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Solving a ticket changes nothing linking reads (its words, tags, creation time):
    it is not linked again (no text index is built for it), yet the issues it counts on
    are summed, since how many open tickets ask can move. A ticket whose words change is
    linked again."""
    import services.incremental

    run_cycle(settings, store, full=True)
    run_cycle(settings, store)  # pmsync's own edits, read back
    solved = next(x for x in store.links.all() if x.source == "zendesk" and x.counts)
    reworded = next(
        x for x in store.links.all() if x.source == "zendesk" and x.record_id != solved.record_id
    )
    update(sandbox_url, "zendesk", "ticket", int(solved.record_id), {"status": "solved"})
    update(sandbox_url, "zendesk", "ticket", int(reworded.record_id), {"subject": "See ANA-2"})
    links_before = {x for x in store.links.all() if x.record_id == solved.record_id}
    relinked: list[tuple[str, str]] = []
    summed: list[str] = []
    real_relink, real_demand = services.incremental.relink, services.incremental.demand

    def spy_relink(settings: Settings, store: Store, records: list, *args: Any) -> int:
        relinked.extend((r.source, r.id) for r in records)
        return real_relink(settings, store, records, *args)

    def spy_demand(*args: Any, **kwargs: Any) -> Any:
        summaries = real_demand(*args, **kwargs)
        summed.extend(summaries)
        return summaries

    monkeypatch.setattr(services.incremental, "relink", spy_relink)
    monkeypatch.setattr(services.incremental, "demand", spy_demand)
    run_cycle(settings, store)

    assert ("zendesk", solved.record_id) not in relinked
    assert ("zendesk", reworded.record_id) in relinked
    assert {x for x in store.links.all() if x.record_id == solved.record_id} == links_before
    assert solved.issue_key in summed
    assert any(
        x.issue_key == "ANA-2" for x in store.links.all() if x.record_id == reworded.record_id
    )
