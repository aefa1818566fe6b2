"""What every searched or listed source does alike, written once and asked of each: only the
absence of a next page ends a listing, a repeated next page raises, and each page carries
the newest update seen, capped at the run's start. Each vendor's way of naming times, pages
and the next page is its `Vendor` below; Zendesk's export pages by its own cursor and has
its own tests (test_connectors_zendesk.py)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import freshdesk_fixtures as freshdesk
import hubspot_fixtures as hubspot
import intercom_fixtures as intercom
import jira_fixtures as jira
import pytest
import responses
from builders import (
    RUN_START,
    body,
    calls_to,
    freeze_now,
    freshdesk_ticket,
    hubspot_deal,
    hubspot_page,
    intercom_conversation,
    intercom_page,
    jira_issue,
    jira_page,
    next_link,
    query,
    record_ids,
    script,
    script_replies,
)

import connectors.freshdesk.client
import connectors.hubspot.client
import connectors.intercom.client
import connectors.jira.client
from connectors.base import DuplicatePageToken
from connectors.freshdesk.client import TICKETS
from connectors.hubspot.client import DEALS
from connectors.intercom.client import CONVERSATIONS
from connectors.jira.client import STREAM


class Vendor:
    """One source's search or listing: how a record and a page are written, how they are
    served and read back, and what each request named as its page."""

    name: str
    client: ModuleType  # whose clock is the run's start
    mock: str | None = None  # the fixture that mocks the vendor's site; a bare mock if None
    needs: tuple[str, ...] = ()  # fixtures the reading asks for (e.g. contacts)
    path: str  # the path every request of the listing goes to
    stream: str
    not_asked: frozenset[str] = frozenset()  # cases that are not this vendor's rule
    kind = "feedback"  # what a dead letter of the listing is

    def record(self, number: int, updated: str) -> dict:
        """A record updated at `updated`, a UTC time written `2024-05-01T09:00:00Z`."""
        raise NotImplementedError

    def page(self, records: list[dict], token: str | None, **extra: Any) -> Any:
        """One answer, naming `token` as its next page when there is one."""
        raise NotImplementedError

    def serve(self, rsps: responses.RequestsMock, answers: list) -> None:
        raise NotImplementedError

    def read(self, saved: Any) -> list:
        """The pages of one listing, from the cursor `saved`."""
        raise NotImplementedError

    def sent(self, rsps: responses.RequestsMock) -> list:
        """What each request named as its page: None for the first."""
        raise NotImplementedError

    def follows(self, token: str) -> str:
        """How a request names the page that an answer's `token` pointed to."""
        return token

    def ids(self, pages: list) -> list[str]:
        return record_ids(pages)

    def record_id(self, number: int) -> str:
        return str(number)

    def cursor(self, when: str | None) -> Any:
        """The cursor saved for the newest update `when` (None: nothing to save)."""
        return when

    def listed(self, pages: list) -> list:
        """The pages of the listing itself (a pull may end with pages of another kind)."""
        return pages

    def spoil(self, record: dict, change: dict) -> None:
        """Write `change` over the record's fields, as the vendor nests them."""
        record.update(change)

    def raw_id(self, number: int) -> str:
        """The id a record's dead letter keeps: the raw record's own."""
        return str(number)


class Freshdesk(Vendor):
    name, client, stream = "freshdesk", connectors.freshdesk.client, TICKETS
    path = "/api/v2/tickets"

    def record(self, number, updated):
        return freshdesk_ticket(number, updated)

    def page(self, records, token, **extra):
        return (200, next_link(self.follows(token) if token else None), records)

    def serve(self, rsps, answers):
        script_replies(rsps, "GET", freshdesk.TICKETS_URL, answers)

    def read(self, saved):
        return list(freshdesk.connector().tickets(saved, freshdesk.EPOCH))

    def sent(self, rsps):
        # The next page is named only by the `Link` header, followed exactly as given.
        return [None] + [call.request.url for call in calls_to(rsps, self.path)[1:]]

    def follows(self, token):
        return freshdesk.page_url(token)


class Intercom(Vendor):
    name, client, path = "intercom", connectors.intercom.client, "/conversations/search"
    mock, needs, stream = "intercom_mock", ("contacts",), CONVERSATIONS

    def record(self, number, updated):
        return intercom_conversation(number, updated)

    def page(self, records, token, **extra):
        return intercom_page(records, token)

    def serve(self, rsps, answers):
        script(rsps, "POST", intercom.SEARCH, answers)

    def read(self, saved):
        return list(intercom.connector().conversations(saved))

    def sent(self, rsps):
        return [
            body(call)["pagination"].get("starting_after") for call in calls_to(rsps, self.path)
        ]


class Jira(Vendor):
    # Every request to the search path counts: the id-only sweep that ends a pull goes
    # there too, and a pull that failed must not sweep (and so prune).
    name, client, path, stream = "jira", connectors.jira.client, "/search/jql", STREAM
    mock, kind = "jira_mock", "issue"

    def record(self, number, updated):
        # Jira writes `2024-05-01T09:00:00.000+0000`.
        return jira_issue(number, updated=updated.replace("Z", ".000+0000"))

    def page(self, records, token, **extra):
        return jira_page(records, token=token, **extra)

    def serve(self, rsps, answers):
        jira.script_search(rsps, answers)

    def read(self, saved):
        return jira.pull(cursor=saved)

    def sent(self, rsps):
        return [query(call).get("nextPageToken", [None])[0] for call in jira.searches(rsps)]

    def ids(self, pages):
        return jira.keys(pages)

    def record_id(self, number):
        return f"ANA-{number}"

    def listed(self, pages):
        return jira.issue_pages(pages)

    def spoil(self, record, change):
        record["fields"].update(change)

    def raw_id(self, number):
        return str(10000 + number)


class HubSpot(Vendor):
    name, client, path, stream = "hubspot", connectors.hubspot.client, "/deals/search", DEALS
    mock, needs = "hubspot_mock", ("companies_of",)
    # The saved position is the last record's place in the sorted search (its timestamp and,
    # within a moment cut by the page cap, its id): it follows the sort, not the newest seen.
    not_asked = frozenset({"never-moves-back"})

    def record(self, number, updated):
        return hubspot_deal(number, updated)

    def page(self, records, token, **extra):
        return hubspot_page(records, after=token)

    def serve(self, rsps, answers):
        script(rsps, "POST", hubspot.SEARCH, answers)

    def read(self, saved):
        return list(hubspot.connector().deals(saved))

    def sent(self, rsps):
        return [body(call).get("after") for call in calls_to(rsps, self.path)]

    def cursor(self, when):
        # Readable JSON with both parts; `after_id` only for a page cut inside one moment.
        return None if when is None else {"modified": when, "after_id": None}


FRESHDESK, INTERCOM, JIRA, HUBSPOT = Freshdesk(), Intercom(), Jira(), HubSpot()
VENDORS = [FRESHDESK, INTERCOM, JIRA, HUBSPOT]


def each_vendor(*cases, only: str | None = None) -> list:
    """Every case for every vendor (or for the vendor named `only`), as `vendor-case`."""
    return [
        pytest.param(vendor, *case.values, id=f"{vendor.name}-{case.id}")
        for vendor in VENDORS
        if only in (None, vendor.name)
        for case in cases
        if case.id not in vendor.not_asked
    ]


@pytest.fixture
def rsps(request, vendor, monkeypatch):
    """The vendor's mocked site, its clock at the run's start."""
    freeze_now(monkeypatch, vendor.client, RUN_START)
    if vendor.mock is None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield mock
    else:
        yield request.getfixturevalue(vendor.mock)


@pytest.fixture(autouse=True)
def what_reading_needs(request, vendor, rsps):
    """The vendor's other answers its reading asks for (which themselves take `rsps`)."""
    for name in vendor.needs:
        request.getfixturevalue(name)


T0 = "2024-05-01T10:20:30Z"


def answers(vendor: Vendor, pages: list[tuple]) -> list:
    """One answer a page of (records, next token[, what else the answer says]); a record is
    a number (updated at T0) or (number, updated)."""
    return [
        vendor.page(
            [vendor.record(*r) if isinstance(r, tuple) else vendor.record(r, T0) for r in records],
            token,
            **(extra[0] if extra else {}),
        )
        for records, token, *extra in pages
    ]


# -- only the absence of a next page ends the listing ----------------------------------------

ENDS = [
    pytest.param([([1, 2], None)], [1, 2], id="no-next-ends"),
    pytest.param([([], None)], [], id="nothing"),
    pytest.param([([], "2"), ([3], None)], [3], id="empty-page-with-next"),
    pytest.param([([1], "2"), ([2], "3"), ([], None)], [1, 2], id="short-pages-with-next"),
    pytest.param(
        [([1], "2"), ([2], "3"), ([3], None)], [1, 2, 3], id="short-pages-ending-on-a-record"
    ),
]
# Jira also says `isLast`, and not reliably: only the token counts.
IS_LAST = [
    pytest.param([([1], None, {"isLast": False})], [1], id="no-token-isLast-false"),
    pytest.param([([1], "2", {"isLast": True}), ([2], None)], [1, 2], id="token-wins-over-isLast"),
]


@pytest.mark.parametrize(
    ("vendor", "pages", "expected"), each_vendor(*ENDS) + each_vendor(*IS_LAST, only="jira")
)
def test_only_an_absent_next_page_ends_the_listing(rsps, vendor, pages, expected):
    """Sources return short and even empty pages mid-listing: stopping on them loses records;
    stopping never loops. Each next page is asked for as the answer named it."""
    vendor.serve(rsps, answers(vendor, pages))

    result = vendor.read(None)

    assert vendor.ids(result) == [vendor.record_id(n) for n in expected]
    assert vendor.sent(rsps) == [None] + [vendor.follows(page[1]) for page in pages[:-1]]


@pytest.mark.parametrize("vendor", VENDORS, ids=[vendor.name for vendor in VENDORS])
def test_the_same_next_page_twice_raises(rsps, vendor):
    """Following a repeated next page would read the same page forever."""
    vendor.serve(rsps, answers(vendor, [([1], "2"), ([2], "2")]))

    with pytest.raises(DuplicatePageToken):
        vendor.read(None)

    assert len(calls_to(rsps, vendor.path)) == 2


# -- a malformed record is a dead letter ------------------------------------------------------

MALFORMED = [
    pytest.param(FRESHDESK, {"updated_at": "2024-05-01T10:20:30"}, "time zone", id="freshdesk"),
    pytest.param(
        INTERCOM,
        {"updated_at": "yesterday"},
        "updated_at: not an ISO 8601 timestamp",
        id="intercom-yesterday",
    ),
    pytest.param(INTERCOM, {"updated_at": None}, "updated_at: not a timestamp", id="intercom-None"),
    pytest.param(JIRA, {"updated": "yesterday"}, "yesterday", id="jira-bad-updated"),
    pytest.param(JIRA, {"updated": "2024-05-01T10:20:30"}, "time zone", id="jira-naive-updated"),
    pytest.param(JIRA, {"summary": None}, "summary", id="jira-null-summary"),
]


@pytest.mark.parametrize(("vendor", "change", "reason"), MALFORMED)
def test_a_malformed_record_goes_to_dead_letters_and_the_page_is_kept(rsps, vendor, change, reason):
    """One unreadable record must neither stop the listing nor vanish: it is kept raw,
    with why."""
    good, bad, later = (vendor.record(n, T0) for n in (1, 2, 3))
    vendor.spoil(bad, change)
    vendor.serve(rsps, [vendor.page([good, bad, later], None)])

    (page,) = vendor.listed(vendor.read(None))

    assert vendor.ids([page]) == [vendor.record_id(1), vendor.record_id(3)]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id, dead.payload) == (
        vendor.name,
        vendor.kind,
        vendor.raw_id(2),
        bad,
    )
    assert reason in dead.reason, dead.reason


# -- the cursor each page carries ------------------------------------------------------------

T8, T9, T10 = "2024-05-01T08:00:00+00:00", "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"
SEEN = "2024-05-01T10:00:00+00:00"
CURSORS = [
    pytest.param(None, [[T9, T10]], [SEEN], id="newest-seen"),
    pytest.param(None, [[T9, T10], []], [SEEN, SEEN], id="newest-seen-kept-by-an-empty-page"),
    pytest.param(None, [[T10], ["2024-05-01T09:30:00Z"]], [SEEN, SEEN], id="never-moves-back"),
    pytest.param(
        None,
        [["2024-05-01T11:00:00Z", "2024-05-01T13:00:00Z"]],
        [RUN_START.isoformat()],
        id="capped-at-run-start",
    ),
    pytest.param(T8, [[]], [T8], id="empty-keeps-saved"),
    pytest.param(T8, [[], []], [T8, T8], id="empty-pages-keep-saved"),
    pytest.param(None, [[]], [None], id="empty-first-run-saves-nothing"),
    pytest.param(None, [[T10] * 3, [T10] * 2], [SEEN, SEEN], id="many-on-one-second"),
]


@pytest.mark.parametrize(("vendor", "saved", "updates", "expected"), each_vendor(*CURSORS))
def test_each_page_carries_the_newest_update_seen_capped_at_run_start(
    rsps, vendor, saved, updates, expected
):
    """The cursor is committed with each page. A bookmark past the run's start skips changes
    not yet indexed; one that moves back re-reads. Records sharing one second keep the
    bookmark on it: the next run reads that second again rather than skip one of them."""
    numbers = iter(range(1, 100))
    pages = [
        (
            [(next(numbers), updated) for updated in page],
            str(i + 2) if i < len(updates) - 1 else None,
        )
        for i, page in enumerate(updates)
    ]
    vendor.serve(rsps, answers(vendor, pages))

    result = vendor.listed(vendor.read(vendor.cursor(saved)))

    assert [page.cursor for page in result] == [vendor.cursor(when) for when in expected]
    assert all(page.stream == vendor.stream for page in result)
