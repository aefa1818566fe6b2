"""The store, on SQLite and (when PMSYNC_TEST_POSTGRES_URL is set) on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import records
from records import feedback_link

import store.cursors as cursor_rows
from models import Account, Feedback, Issue, RecordKind, ToolLink
from services import invalidation
from store import DeadLetter, LedgerEntry, Store
from store.schema import cursors

UPDATED = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


@pytest.fixture
def store(any_store_url):
    store = Store(any_store_url, upgrade=True)
    yield store
    store.engine.dispose()


def issue(key: str = "ANA-1", summary: str = "SSO login") -> Issue:
    return Issue(
        source="jira",
        id=key.split("-")[1],
        key=key,
        url=f"https://example.atlassian.net/browse/{key}",
        project="ANA",
        summary=summary,
        status="To Do",
        updated_at=UPDATED,
    )


def account(source: str, account_id: str, domain: str = "acme.com") -> Account:
    return records.account(account_id, source=source, domains=(domain,), updated_at=UPDATED)


def ticket(ticket_id: str) -> Feedback:
    return records.feedback(ticket_id, subject="Please add SSO", updated_at=UPDATED)


def tool_link(source: str, link_id: str, key: str) -> ToolLink:
    return records.tool_link(
        link_id,
        "7",
        key,
        source=source,
        record_source="zendesk" if source == "jira" else None,
        updated_at=UPDATED,
    )


# -- records ---------------------------------------------------------------------------------


def test_a_record_saved_twice_is_replaced_not_duplicated(store):
    """Pages overlap (lookback, inclusive cursors): a second save must replace."""
    store.records.save_page([issue(summary="SSO login")])
    store.records.save_page([issue(summary="SAML single sign-on")])

    assert store.records.count() == {"jira": {"issue": 1}}
    (stored,) = store.records.load(RecordKind.ISSUE)
    assert stored.summary == "SAML single sign-on"
    assert stored.updated_at == UPDATED


def test_records_are_keyed_by_source_kind_and_id(store):
    """Zendesk org 7 and Zendesk ticket 7 and HubSpot company 7 are different records."""
    store.records.save_page([account("zendesk", "7"), ticket("7"), account("hubspot", "7")])

    assert store.records.count() == {
        "zendesk": {"account": 1, "feedback": 1},
        "hubspot": {"account": 1},
    }
    assert [a.source for a in store.records.load(RecordKind.ACCOUNT, source="hubspot")] == [
        "hubspot"
    ]


def test_a_deal_round_trips_with_its_amount_and_dates(store):
    deal = records.deal(
        "9",
        url="https://h.example/9",
        name="Acme renewal",
        amount=Decimal("12500.50"),
        stage="closedwon",
        is_closed=True,
        is_won=True,
        close_date=datetime(2024, 4, 1, tzinfo=UTC),
        account_ids=("100",),
        issue_keys=("ANA-1",),
        updated_at=UPDATED,
    )
    store.records.save_page([deal])

    assert store.records.load(RecordKind.DEAL) == [deal]


def test_a_page_and_its_cursor_are_saved_together(store):
    store.records.save_page([issue()], stream="jira.issues", cursor="2024-05-01T10:20:30+00:00")

    assert store.cursors.get("jira.issues") == "2024-05-01T10:20:30+00:00"
    assert store.cursors.get("zendesk.tickets") is None


def test_a_failure_inside_save_page_moves_neither_records_nor_cursor(store, monkeypatch):
    """A crash between storing records and the cursor must not leave half a page: either
    the cursor would skip records, or records would be stored under the old cursor."""
    store.records.save_page([issue(summary="before")], stream="jira.issues", cursor="c1")

    real_upsert = cursor_rows.upsert

    def fail_on_cursor(conn, table, keys, rows):
        if table is cursors:
            raise RuntimeError("disk full")
        real_upsert(conn, table, keys, rows)

    monkeypatch.setattr(cursor_rows, "upsert", fail_on_cursor)
    dead = DeadLetter("jira", "issue", "99", "summary: missing", {"id": "99"})
    with pytest.raises(RuntimeError, match="disk full"):
        store.records.save_page(
            [issue(summary="after"), issue("ANA-2")], dead=[dead], stream="jira.issues", cursor="c2"
        )

    assert [i.summary for i in store.records.load(RecordKind.ISSUE)] == ["before"]
    assert store.cursors.get("jira.issues") == "c1"
    assert store.dead_letters.all() == []


def test_a_dead_letter_that_cannot_be_stored_rolls_back_the_page(store):
    """The records of a page are not kept when its dead letters cannot be."""
    unstorable = DeadLetter("jira", "issue", "99", "bad", {"raw": object()})

    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type varies
        store.records.save_page([issue()], dead=[unstorable], stream="jira.issues", cursor="c1")

    assert store.records.count() == {}
    assert store.cursors.get("jira.issues") is None


def test_prune_drops_what_the_tool_no_longer_has(store):
    """A company deleted in HubSpot must stop counting as a customer."""
    store.records.save_page(
        [account("hubspot", i) for i in ("1", "2", "3")] + [account("zendesk", "2")]
    )

    removed = invalidation.prune(store, "hubspot", RecordKind.ACCOUNT, {"1", "3"})

    assert removed == 1
    assert sorted(a.id for a in store.records.load(RecordKind.ACCOUNT, source="hubspot")) == [
        "1",
        "3",
    ]
    assert [a.id for a in store.records.load(RecordKind.ACCOUNT, source="zendesk")] == ["2"]


def test_a_deleted_issue_takes_its_remote_links_with_it(store):
    """Remote links live in Jira on their issue: between full reads of them, nothing else
    would drop those of an issue the sweep found deleted. A Zendesk Jira link stays."""

    store.records.save_page(
        [issue("ANA-1"), issue("ANA-2")]
        + [tool_link("jira", "501", "ANA-1"), tool_link("jira", "502", "ANA-2")]
        + [tool_link("zendesk", "9001", "ANA-1")]
    )

    invalidation.prune(store, "jira", RecordKind.ISSUE, {"2"})

    assert [t.id for t in store.records.load(RecordKind.TOOL_LINK, source="jira")] == ["502"]
    assert [t.id for t in store.records.load(RecordKind.TOOL_LINK, source="zendesk")] == ["9001"]


def test_prune_with_nothing_kept_empties_only_that_stream(store):
    store.records.save_page([account("hubspot", "1"), ticket("1")])

    assert invalidation.prune(store, "hubspot", RecordKind.ACCOUNT, set()) == 1
    assert store.records.count() == {"zendesk": {"feedback": 1}}


# -- links -----------------------------------------------------------------------------------


def test_replace_links_replaces_only_the_given_owners_links(store):
    """Re-linking one ticket must not drop another ticket's links."""
    invalidation.replace_links(
        store,
        [("zendesk", "1"), ("zendesk", "2")],
        [feedback_link("1", "ANA-1"), feedback_link("1", "ANA-2"), feedback_link("2", "ANA-1")],
    )

    invalidation.replace_links(store, [("zendesk", "1")], [feedback_link("1", "ANA-3")])

    assert {(stored.record_id, stored.issue_key) for stored in store.links.all()} == {
        ("1", "ANA-3"),
        ("2", "ANA-1"),
    }
    assert [stored.record_id for stored in store.links.all("ANA-1")] == ["2"]


def test_replace_links_with_nothing_clears_the_owner(store):
    invalidation.replace_links(
        store,
        [("zendesk", "1"), ("hubspot", "1")],
        [feedback_link("1", "ANA-1"), feedback_link("1", "ANA-1", source="hubspot")],
    )

    invalidation.replace_links(store, [("zendesk", "1")], [])

    assert [(stored.source, stored.record_id) for stored in store.links.all()] == [("hubspot", "1")]


def test_relinking_chunk_by_chunk_drops_the_links_of_records_no_longer_stored(store):
    """A full relink writes a chunk's links at a time; the links of a record that is gone
    from the store are dropped when it ends, and the issue they counted on is pending."""
    store.records.save_page([ticket("1"), ticket("2")], [], None, None)
    invalidation.replace_links(
        store,
        [("zendesk", "1"), ("zendesk", "9")],
        [feedback_link("1", "ANA-1"), feedback_link("9", "ANA-7")],
    )
    store.ledger.clear_pending(store.ledger.pending())

    unchanged, new = [feedback_link("1", "ANA-1")], [feedback_link("2", "ANA-2")]
    invalidation.replace_links(store, [("zendesk", "1")], unchanged)
    invalidation.replace_links(store, [("zendesk", "2")], new)
    invalidation.drop_orphan_links(store)

    assert {(x.record_id, x.issue_key) for x in store.links.all()} == {
        ("1", "ANA-1"),
        ("2", "ANA-2"),
    }
    assert store.ledger.pending() == {"ANA-2", "ANA-7"}  # ticket 9 is not stored: its link went


def test_record_signatures_are_written_with_links_and_leave_with_their_record(store):
    """A record's signature says what its links were made from: one relinked without one
    (it is gone) loses it, and a relink of everything drops those of records not stored."""
    store.records.save_page([ticket("1"), ticket("2")], [], None, None)
    owners = [("zendesk", "1"), ("zendesk", "2"), ("zendesk", "9")]
    signed = {pair: f"sig-{pair[1]}" for pair in owners}
    invalidation.replace_links(store, owners, [feedback_link("1", "ANA-1")], signed)
    assert store.links.record_signatures(owners) == signed

    invalidation.replace_links(store, [("zendesk", "2")], [], {("zendesk", "2"): "sig-2b"})
    invalidation.replace_links(store, [("zendesk", "1")], [])  # gone: no signature
    assert store.links.record_signatures(owners) == {
        ("zendesk", "2"): "sig-2b",
        ("zendesk", "9"): "sig-9",
    }

    invalidation.drop_orphan_links(store)  # ticket 9 is not stored
    assert store.links.record_signatures(owners) == {("zendesk", "2"): "sig-2b"}


def test_links_round_trip_with_their_evidence(store):
    original = feedback_link(
        "1",
        "ANA-1",
        method="tool_link",
        confidence=0.9,
        evidence="zendesk Jira link 5",
    )
    invalidation.replace_links(store, [("zendesk", "1")], [original])

    assert store.links.all() == [original]


# -- publish ledger --------------------------------------------------------------------------


def test_the_publish_ledger_round_trips_and_keeps_one_entry_per_issue(store):
    """The ledger is what keeps an unchanged summary from being written twice."""
    first = LedgerEntry("ANA-1", "a" * 64, None, {"requests": 1, "revenue": "0"})
    second = LedgerEntry("ANA-1", "b" * 64, "10042", {"requests": 2, "revenue": "1500"})
    other = LedgerEntry("ANA-2", "c" * 64, "10043", {"requests": 1})

    store.ledger.record_publish(first)
    assert store.ledger.entries() == {"ANA-1": first}

    store.ledger.record_publish(second)
    store.ledger.record_publish(other)
    assert store.ledger.entries() == {"ANA-1": second, "ANA-2": other}
    # A publish reads only the entries of the issues it may write.
    assert store.ledger.entries(["ANA-2", "ANA-9"]) == {"ANA-2": other}
    assert store.ledger.entries([]) == {}


def test_issue_marks_read_labels_and_the_property_flag_without_loading_issues(store):
    """What a publish needs of every issue: its labels (pmsync's own among them) and
    whether pmsync's property was on it when read."""
    written = issue("ANA-1").model_copy(update={"labels": ("demand-high", "ux"), "published": True})
    store.records.save_page([written, issue("ANA-2")], [], None, None)
    assert store.records.issue_marks() == {
        "ANA-1": (["demand-high", "ux"], True),
        "ANA-2": ([], False),
    }


# -- dead letters ----------------------------------------------------------------------------


def test_dead_letters_keep_the_raw_payload_until_resolved(store):
    """A dead letter is replayable only if its raw payload and reason survive intact."""
    raw = {"id": 2, "updated_at": "05/01/2024", "custom_fields": [{"id": 1, "value": None}]}
    store.records.save_page(
        [],
        dead=[
            DeadLetter("zendesk", "feedback", "2", "ValueError: bad date", raw),
            DeadLetter("zendesk", "feedback", None, "missing field 'id'", {"subject": "?"}),
            DeadLetter("hubspot", "deal", "2", "amount is not a number", {"id": "2"}),
        ],
    )

    letters = store.dead_letters.all()
    assert [(d["source"], d["record_id"], d["reason"], d["payload"]) for d in letters] == [
        ("zendesk", "2", "ValueError: bad date", raw),
        ("zendesk", None, "missing field 'id'", {"subject": "?"}),
        ("hubspot", "2", "amount is not a number", {"id": "2"}),
    ]

    store.dead_letters.resolve("zendesk", "feedback", ["2"])

    assert [(d["source"], d["record_id"]) for d in store.dead_letters.all()] == [
        ("zendesk", None),
        ("hubspot", "2"),
    ]
    resolved = [d for d in store.dead_letters.all(include_resolved=True) if d["resolved"]]
    assert [(d["source"], d["record_id"]) for d in resolved] == [("zendesk", "2")]


def test_resolving_no_ids_changes_nothing(store):
    store.records.save_page([], dead=[DeadLetter("zendesk", "feedback", "2", "bad", {})])

    store.dead_letters.resolve("zendesk", "feedback", [])

    assert len(store.dead_letters.all()) == 1


def test_a_new_sqlite_store_writes_ahead_and_a_busy_one_still_opens(tmp_path, monkeypatch):
    """A SQLite store runs in write-ahead-log mode (a sync's writes do not block the
    webhook runner's reads). Processes opening a new store together may find it locked
    while one of them switches the mode: the others wait and retry, and one that never
    gets it still opens the store, in the rollback journal."""
    import sqlite3

    import store.base as module

    url = f"sqlite:///{tmp_path}/wal.db"
    Store(url, upgrade=True).engine.dispose()
    with sqlite3.connect(tmp_path / "wal.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    class Busy:
        calls = 0

        def cursor(self):
            return self

        def execute(self, statement):
            Busy.calls += 1
            raise sqlite3.OperationalError("database is locked")

        def close(self):
            pass

    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    module._sqlite_pragmas(Busy(), None)  # no error: the store carries on
    assert Busy.calls == module.WAL_ATTEMPTS
