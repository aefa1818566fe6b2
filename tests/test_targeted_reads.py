"""The incremental sync reads what it needs, not every record: who asked for an issue is
read from the payloads' requester fields, a summary loads only its issue's feedback and its
customers' deals, and linking writes only the issue signatures that moved. Each read must
give what loading everything gave."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors import registry
from connectors.settings import Settings
from flows.pipeline import pull_source
from models import RecordKind
from services.demand import account_directory, calculator_for, demand, issues_asked_by
from services.links import link_all
from store import Store


def test_targeted_reads_give_what_loading_everything_gives(
    sandbox_url: str, any_store_url: str
) -> None:
    """Pins `issues_asked_by` (store query) to the loaded feedback's customers, and the
    summaries of a few issues (`demand`, whose calculators hold only their records) to
    those of a calculator holding every record, on SQLite and PostgreSQL."""
    settings = Settings.for_sandbox(sandbox_url, database_url=any_store_url)
    store = Store(any_store_url, upgrade=True)
    for source in registry.configured(settings):
        pull_source(settings, store, source, full=True)
    link_all(settings, store)
    counting = store.links.all(suggested=False)
    directory = account_directory(settings, store)
    feedback = {(f.source, f.id): f for f in store.records.load(RecordKind.FEEDBACK)}
    customers = {
        c.key for deal in store.records.load(RecordKind.DEAL)[::7] for c in directory.for_deal(deal)
    }
    assert customers

    asked = {
        link.issue_key
        for link in counting
        if (link.source, link.record_id) in feedback
        and link.kind == "feedback"
        and directory.for_feedback(feedback[(link.source, link.record_id)]).key in customers
    }
    assert asked and issues_asked_by(store, directory, customers) == asked

    now = datetime.now(UTC)
    wanted = set(sorted({link.issue_key for link in counting})[::3])
    whole = calculator_for(settings, store, now)  # every record loaded
    everything = {
        key: whole.summary(key, [x for x in counting if x.issue_key == key])
        for key in sorted(wanted)
    }
    some = store.links.of_issues(wanted, suggested=False)
    assert [x for x in counting if x.issue_key in wanted] == sorted(
        some, key=lambda x: (x.issue_key, x.source, x.record_id)
    )
    calculator = calculator_for(settings, store, now, some, directory)
    assert len(calculator.deals) < len(store.records.load(RecordKind.DEAL))
    assert dict(demand(settings, store, now, among=wanted)) == everything


def test_issue_signatures_keep_what_was_saved_last(any_store_url: str) -> None:
    """Saving writes only the rows that differ, yet reads back exactly the last dict saved:
    moved ones replaced, gone ones deleted, new ones added."""
    store = Store(any_store_url, upgrade=True)
    store.links.save_issue_signatures({"A-1": "a", "A-2": "b", "A-3": "c"})
    store.links.save_issue_signatures({"A-1": "a", "A-2": "B", "A-4": "d"})
    assert store.links.issue_signatures() == {"A-1": "a", "A-2": "B", "A-4": "d"}
    store.links.save_issue_signatures({})
    assert store.links.issue_signatures() == {}
