"""Zendesk: the ticket export (cursor, end of stream), sideloaded users and deletions."""

from __future__ import annotations

import pytest
from builders import (
    ZENDESK,
    calls_to,
    cursor_page,
    export_page,
    query,
    record_ids,
    script,
    zendesk_ticket,
)
from zendesk_fixtures import (
    EXPORT,
    JIRA_LINKS,
    ORGANIZATION_EXPORT,
    ORGANIZATIONS,
    organization_export,
)

from connectors.base import DuplicatePageToken
from connectors.zendesk.client import TICKETS

pytestmark = pytest.mark.mocked_site("zendesk_mock")


# -- the ticket export -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "expected_ids", "expected_cursors"),
    [
        pytest.param(
            [export_page([zendesk_ticket(1)], "c1", end_of_stream=True)],
            ["1"],
            ["c1"],
            id="end-of-stream-with-cursor",
        ),
        pytest.param(
            [export_page([], "c1", end_of_stream=True)], [], ["c1"], id="empty-end-of-stream"
        ),
        pytest.param(
            [
                export_page([], "c1", end_of_stream=None),
                export_page([zendesk_ticket(2)], "c2", end_of_stream=True),
            ],
            ["2"],
            ["c1", "c2"],
            id="empty-page-end-of-stream-missing",
        ),
        pytest.param(
            [
                export_page([], "c1", end_of_stream=False),
                export_page([zendesk_ticket(2)], "c2", end_of_stream=False),
                export_page([zendesk_ticket(3)], "c3", end_of_stream=True),
            ],
            ["2", "3"],
            ["c1", "c2", "c3"],
            id="empty-page-end-of-stream-false",
        ),
    ],
)
def test_only_end_of_stream_ends_the_export(rsps, zendesk, answers, expected_ids, expected_cursors):
    """`end_of_stream`, not an empty page, ends the export; its last page still carries an
    `after_cursor`, which is what the next run resumes from."""
    script(rsps, "GET", EXPORT, answers)

    pages = list(zendesk.tickets(None))

    assert record_ids(pages) == expected_ids
    assert [page.cursor for page in pages] == expected_cursors
    requests = calls_to(rsps, "/cursor.json")
    assert len(requests) == len(answers)
    assert query(requests[0])["start_time"] == ["0"]
    for request, previous in zip(requests[1:], answers, strict=False):
        assert query(request)["cursor"] == [previous["after_cursor"]]
        assert "start_time" not in query(request)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(
            [
                export_page([zendesk_ticket(1)], "c1", end_of_stream=False),
                export_page([zendesk_ticket(2)], "c1", end_of_stream=False),
            ],
            id="same-cursor-twice",
        ),
        pytest.param(
            [export_page([zendesk_ticket(1)], None, end_of_stream=False)],
            id="no-cursor-and-not-ended",
        ),
    ],
)
def test_a_cursor_that_cannot_move_on_raises(rsps, zendesk, answers):
    """Following a repeated (or missing) cursor would read the same page forever."""
    script(rsps, "GET", EXPORT, answers)

    with pytest.raises(DuplicatePageToken):
        list(zendesk.tickets(None))

    assert len(calls_to(rsps, "/cursor.json")) == len(answers)


def test_the_second_run_resumes_from_the_saved_cursor(rsps, zendesk):
    """Restarting from start_time re-reads everything (and the export rate limit is 10 a
    minute); the saved after_cursor is the resume point."""
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [], None))
    rsps.get(ORGANIZATION_EXPORT, json=organization_export([], 0, end_of_stream=True))
    rsps.get(JIRA_LINKS, json=cursor_page("links", [], None))
    script(
        rsps,
        "GET",
        EXPORT,
        [
            export_page([zendesk_ticket(1)], "c1", end_of_stream=True),
            export_page([zendesk_ticket(2)], "c2", end_of_stream=True),
        ],
    )
    saved: dict[str, str] = {}

    for _run in range(2):
        for page in zendesk.pull(saved.get):
            if page.cursor is not None:
                saved[page.stream] = page.cursor

    first, second = calls_to(rsps, "/cursor.json")
    assert query(first)["start_time"] == ["0"]
    assert query(second)["cursor"] == ["c1"]
    assert "start_time" not in query(second)
    assert saved[TICKETS] == "c2"


def test_a_full_pull_ignores_the_saved_cursor(rsps, zendesk):
    """`--full` re-reads from the beginning."""
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [], None))
    rsps.get(JIRA_LINKS, json=cursor_page("links", [], None))
    rsps.get(EXPORT, json=export_page([], "c9", end_of_stream=True))

    list(zendesk.pull(lambda stream: "c1", full=True))

    (export,) = calls_to(rsps, "/cursor.json")
    assert query(export)["start_time"] == ["0"]


def test_tickets_get_the_requester_from_sideloaded_users(rsps, zendesk):
    """Who asked decides which customer a ticket counts for; the export sideloads users."""
    rsps.get(
        EXPORT,
        json=export_page(
            [
                zendesk_ticket(1, requester_id=7, organization_id=42),
                zendesk_ticket(2, requester_id=8),
                zendesk_ticket(3, requester_id=999),
            ],
            "c1",
            end_of_stream=True,
            users=[
                {"id": 7, "name": "Ann", "email": "ann@acme.com", "organization_id": 42},
                {"id": 8, "name": "Bob", "email": "bob@gmail.com", "organization_id": None},
            ],
        ),
    )

    (page,) = list(zendesk.tickets(None))

    assert query(rsps.calls[0])["include"] == ["users"]
    one, two, three = page.records
    assert (one.requester_email, one.requester_name, one.account_id) == (
        "ann@acme.com",
        "Ann",
        "42",
    )
    assert (two.requester_email, two.account_id) == ("bob@gmail.com", None)
    assert three.requester_email is None
    assert one.url == f"{ZENDESK}/agent/tickets/1"


@pytest.mark.parametrize("updated_at", ["05/01/2024", "2024-05-01T10:20:30", None, ""])
def test_a_malformed_ticket_goes_to_dead_letters_with_the_raw_ticket(rsps, zendesk, updated_at):
    """One unreadable ticket must neither stop the export nor be lost."""
    bad = zendesk_ticket(2, updated_at=updated_at)
    rsps.get(
        EXPORT,
        json=export_page([zendesk_ticket(1), bad, zendesk_ticket(3)], "c1", end_of_stream=True),
    )

    (page,) = list(zendesk.tickets(None))

    assert [ticket.id for ticket in page.records] == ["1", "3"]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id) == ("zendesk", "feedback", "2")
    assert dead.reason
    assert dead.payload == bad
    assert page.cursor == "c1"


def test_deleted_tickets_leave_the_store_with_the_page(rsps, zendesk):
    """The export returns deleted tickets too, marked `status: "deleted"`: they are
    nobody's demand, and a ticket stored before its deletion must go (with its links)."""
    rsps.get(
        EXPORT,
        json=export_page(
            [zendesk_ticket(1), zendesk_ticket(2, status="deleted"), zendesk_ticket(3)],
            "c1",
            end_of_stream=True,
        ),
    )

    (page,) = list(zendesk.tickets(None))

    assert [ticket.id for ticket in page.records] == ["1", "3"]
    assert page.deleted_ids == ["2"]
    assert page.dead == []
    assert page.cursor == "c1"
