"""What a change to the stored records or links invalidates (services.invalidation): the
store reports what it removed or moved, the rule marks what must be done again, in the
same transaction."""

from __future__ import annotations

from decimal import Decimal

from models import Deal, RecordKind, ToolLink
from services import invalidation
from store import EVERY_ISSUE, RELINK_ALL
from tests.test_store import UPDATED, account, issue, link, ticket


def deal(deal_id: str) -> Deal:
    return Deal(
        source="hubspot",
        id=deal_id,
        url=f"https://app.hubspot.com/deal/{deal_id}",
        name="Acme renewal",
        amount=Decimal("1000"),
        stage="open",
        is_closed=False,
        is_won=False,
        updated_at=UPDATED,
    )


def remote_link(link_id: str, key: str) -> ToolLink:
    return ToolLink(
        source="jira",
        id=link_id,
        url=f"https://example/{link_id}",
        record_source="zendesk",
        record_id="1",
        issue_key=key,
        updated_at=UPDATED,
    )


def test_a_deleted_ticket_takes_its_links_and_marks_their_issues(store):
    store.records.save_page([ticket("1"), ticket("2")])
    owners = [("zendesk", "1"), ("zendesk", "2")]
    invalidation.replace_links(store, owners, [link("1", "ANA-1"), link("2", "ANA-2")])
    assert store.ledger.pending() == {"ANA-1", "ANA-2"}
    store.ledger.clear_pending({"ANA-1", "ANA-2"})

    invalidation.save_page(store, [], deleted=("zendesk", "feedback", ["1"]))

    assert [x.record_id for x in store.links.all()] == ["2"]
    assert store.ledger.pending() == {"ANA-1"}
    assert store.cursors.get(RELINK_ALL) is None


def test_a_deleted_deal_or_account_marks_every_issue(store):
    store.records.save_page([deal("7"), account("hubspot", "3")])

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
    store.records.save_page([issue("ANA-1"), remote_link("501", "ANA-1")])

    invalidation.prune(store, "jira", RecordKind.ISSUE, set())

    assert store.records.count() == {}
    assert store.cursors.get(RELINK_ALL) == "tool link deleted"
