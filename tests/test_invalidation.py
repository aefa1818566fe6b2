"""What a change to the stored records or links invalidates (services.invalidation): the
store reports what it removed or moved, the rule marks what must be done again, in the
same transaction."""

from __future__ import annotations

from records import feedback_link

from models import RecordKind
from services import invalidation
from store import EVERY_ISSUE, RELINK_ALL
from tests.test_close_loop import deal
from tests.test_store import account, issue, ticket, tool_link


def test_a_deleted_ticket_takes_its_links_and_marks_their_issues(store):
    store.records.save_page([ticket("1"), ticket("2")])
    owners = [("zendesk", "1"), ("zendesk", "2")]
    links = [feedback_link("1", "ANA-1"), feedback_link("2", "ANA-2")]
    invalidation.replace_links(store, owners, links)
    assert store.ledger.pending() == {"ANA-1", "ANA-2"}
    store.ledger.clear_pending({"ANA-1", "ANA-2"})

    invalidation.save_page(store, [], deleted=("zendesk", "feedback", ["1"]))

    assert [x.record_id for x in store.links.all()] == ["2"]
    assert store.ledger.pending() == {"ANA-1"}
    assert store.cursors.get(RELINK_ALL) is None


def test_a_deleted_deal_or_account_marks_every_issue(store):
    store.records.save_page([deal("7", closed=False), account("hubspot", "3")])

    invalidation.save_page(store, [], deleted=("hubspot", "deal", ["7"]))
    assert store.ledger.pending() == {EVERY_ISSUE}
    store.ledger.clear_pending({EVERY_ISSUE})

    assert invalidation.prune(store, "hubspot", RecordKind.ACCOUNT, set()) == 1
    assert store.ledger.pending() == {EVERY_ISSUE}


def test_deleting_what_is_not_stored_invalidates_nothing(store):
    invalidation.save_page(store, [], deleted=("hubspot", "deal", ["7"]))
    invalidation.save_page(store, [], deleted=("jira", "tool_link", ["501"]))

    assert store.ledger.pending() == set()
    assert store.cursors.get(RELINK_ALL) is None


def test_a_deleted_issue_takes_its_remote_links_and_asks_for_a_relink(store):
    """The tickets a remote link tied to the issue are known only to the link: gone, the
    next sync relinks everything."""
    store.records.save_page([issue("ANA-1"), tool_link("jira", "501", "ANA-1")])

    invalidation.prune(store, "jira", RecordKind.ISSUE, set())

    assert store.records.count() == {}
    assert store.cursors.get(RELINK_ALL) == "tool link deleted"
