"""The paginators of connectors.paging over a matrix of boundary cases: where each stops,
what it sends next and which repeats it refuses. No HTTP: `send` answers from a script and
keeps every request, so each test says exactly which pages were asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.base import REREADS, DuplicatePageToken, MovedWhileRead
from connectors.paging import (
    CappedSearch,
    OffsetPaging,
    Request,
    ScrollPaging,
    Stream,
    TimeExport,
    body_key,
    cursor_export,
    has_more,
    link_header,
    next_token,
    param,
    reread_moved,
    soql_query,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)


class Script:
    """A `send` that answers with the given replies in order and keeps what it was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[Request] = []

    def __call__(self, request: Request) -> Any:
        self.sent.append(request)
        if not self.answers:
            raise AssertionError(f"asked for a page the script does not have: {request}")
        return self.answers.pop(0)


def walk(paging: Any, send: Script, first: Request | None = None) -> list[Any]:
    return list(paging.pages(send, first or Request("/things", {"size": 2})))


def linked(records: list[Any], next_url: str | None = None) -> SimpleNamespace:
    """A response as `requests` parses `Link: <...>; rel="next"` into `.links`."""
    links = {"next": {"url": next_url}} if next_url else {}
    return SimpleNamespace(links=links, records=records)


# -- a next-page token / `after` cursor ---------------------------------------------------

AFTER = next_token("paging.next.after", param("after"), "tool {path} repeated after={token}")


def after_page(results: list[int], after: str | None) -> dict[str, Any]:
    return {"results": results, **({"paging": {"next": {"after": after}}} if after else {})}


def test_token_empty_page_with_a_token_goes_on() -> None:
    """An empty page that still names a next token is not the end (Jira and HubSpot serve
    short and empty pages mid-listing): stopping there would lose the rest."""
    send = Script(after_page([], "2"), after_page([3], None))
    assert [a["results"] for a in walk(AFTER, send)] == [[], [3]]
    assert [r.params for r in send.sent] == [{"size": 2}, {"size": 2, "after": "2"}]


def test_token_absent_ends_even_after_a_full_page() -> None:
    """Only an absent token ends the walk: a full page without one asks for nothing more."""
    send = Script(after_page([1, 2], None))
    assert len(walk(AFTER, send)) == 1 and len(send.sent) == 1


def test_token_same_twice_raises_after_serving_the_page() -> None:
    """The same token twice would read the same pages forever: the page that repeats it is
    still handed on, then DuplicatePageToken names the listing and the token."""
    send = Script(after_page([1], "7"), after_page([2], "7"))
    pages = AFTER.pages(send, Request("/things"))
    assert next(pages)["results"] == [1] and next(pages)["results"] == [2]
    with pytest.raises(DuplicatePageToken, match=r"^tool /things repeated after=7$"):
        next(pages)
    assert len(send.sent) == 2


def test_token_into_a_nested_body_keeps_the_first_request() -> None:
    """A search sends its token inside the JSON body (Intercom's
    `pagination.starting_after`) next to what the body had; the first body is not changed
    under the request already sent."""
    search = next_token(
        "pages.next.starting_after", body_key("pagination", "starting_after"), "{token}"
    )
    send = Script({"pages": {"next": {"starting_after": "abc"}}}, {"pages": {}})
    first = {"query": {"x": 1}, "pagination": {"per_page": 150}}
    walk(search, send, Request("/search", body=first))
    assert send.sent[0].body == {"query": {"x": 1}, "pagination": {"per_page": 150}}
    assert send.sent[1].body == {
        "query": {"x": 1},
        "pagination": {"per_page": 150, "starting_after": "abc"},
    }


def test_token_formats_a_long_token_shortened() -> None:
    """Jira's tokens are long: its message shows their first 20 characters."""
    jira = next_token("next", param("next"), "jira repeated nextPageToken {token:.20}...")
    token = "x" * 30
    with pytest.raises(DuplicatePageToken, match=r"nextPageToken x{20}\.\.\.$"):
        walk(jira, Script({"next": token}, {"next": token}))


def test_a_consumer_that_stops_sends_nothing_more() -> None:
    """A reader that has what it needs (a window's `until` reached) stops reading: no
    request follows the last page it took."""
    send = Script(after_page([1], "2"), after_page([2], "3"))
    pages = AFTER.pages(send, Request("/things"))
    next(pages)
    pages.close()
    assert len(send.sent) == 1


# -- cursor paging with `meta.has_more` -----------------------------------------------------

CURSOR = has_more("meta.after_cursor", param("page[after]"), "z {path} repeated cursor {token!r}")


def meta(more: bool | None, cursor: str | None, records: list[int] | None = None) -> dict:
    return {"records": records or [], "meta": {"has_more": more, "after_cursor": cursor}}


@pytest.mark.parametrize("more", [False, None])
def test_has_more_false_or_missing_ends_despite_a_cursor(more: bool | None) -> None:
    """`has_more` false (or missing) is the end, although Zendesk still sends a cursor."""
    send = Script(meta(more, "abc", [1, 2]))
    assert len(walk(CURSOR, send)) == 1 and len(send.sent) == 1


@pytest.mark.parametrize("cursor", [None, ""])
def test_has_more_without_a_cursor_cannot_go_on(cursor: str | None) -> None:
    """More pages promised but no cursor to ask for them: an error, not a quiet end that
    would leave the listing short (and a full listing's end removes what it did not name)."""
    with pytest.raises(DuplicatePageToken, match=rf"^z /things repeated cursor {cursor!r}$"):
        walk(CURSOR, Script(meta(True, cursor)))


def test_has_more_empty_page_with_a_cursor_goes_on() -> None:
    """An empty page with `has_more` true goes on to the cursor it names."""
    send = Script(meta(True, "c1"), meta(False, None, [5]))
    assert [a["records"] for a in walk(CURSOR, send)] == [[], [5]]
    assert send.sent[1].params == {"size": 2, "page[after]": "c1"}


def test_has_more_key_compares_what_is_sent() -> None:
    """Zendesk's link list hands back a URL standing for a number: two URLs that stand for
    the same number are the same position, refused with the cursor as it came."""
    number = has_more(
        "meta.after_cursor",
        param("page[after]"),
        "cannot move on from cursor {token!r}",
        key=lambda cursor: int(cursor.rsplit("=", 1)[1]),
    )
    send = Script(meta(True, "/l?page[after]=5"), meta(True, "/links?page[after]=5"))
    with pytest.raises(DuplicatePageToken, match=r"from cursor '/links\?page\[after\]=5'$"):
        walk(number, send)
    assert send.sent[1].params["page[after]"] == 5


# -- `Link: rel="next"` ---------------------------------------------------------------------

LINKS = link_header("tool {path} repeated next link {token}")


def test_link_header_absent_ends_even_after_a_full_page() -> None:
    """No `Link: rel="next"` on a page is the only end, whatever the page holds."""
    send = Script(linked([1, 2]))
    assert len(walk(LINKS, send)) == 1 and len(send.sent) == 1


def test_link_header_empty_page_with_a_link_goes_on_to_that_url() -> None:
    """An empty page with a next link goes on, asking for the link's URL as it is (its
    query carries the page number; nothing is added to it)."""
    send = Script(linked([], "https://t/things?page=2"), linked([3]))
    assert [r.records for r in walk(LINKS, send)] == [[], [3]]
    assert send.sent[1] == Request("https://t/things?page=2")


def test_link_header_same_link_twice_raises() -> None:
    """A next link that points back at a page already asked for would loop."""
    url = "https://t/things?page=2"
    with pytest.raises(DuplicatePageToken, match=r"^tool /things repeated next link https://t"):
        walk(LINKS, Script(linked([1], url), linked([2], url)))


# -- SOQL `nextRecordsUrl` -------------------------------------------------------------------

SOQL = soql_query("query cannot move on from {token!r}")


def test_soql_done_ends_even_with_a_next_url() -> None:
    """`done: true` ends the query; a stray `nextRecordsUrl` beside it is not followed."""
    send = Script({"records": [1], "done": True, "nextRecordsUrl": "/q/01g-2000"})
    assert len(walk(SOQL, send)) == 1 and len(send.sent) == 1


def test_soql_not_done_without_a_next_url_raises() -> None:
    """`done: false` without a `nextRecordsUrl`: the rest of the query cannot be asked for."""
    with pytest.raises(DuplicatePageToken, match=r"^query cannot move on from None$"):
        walk(SOQL, Script({"records": [], "done": False}))


def test_soql_follows_the_next_url_and_refuses_it_twice() -> None:
    """Each batch is asked for at its `nextRecordsUrl` alone (the query is in it); the same
    URL twice would loop."""
    batch = {"records": [1], "done": False, "nextRecordsUrl": "/q/01g-2000"}
    send = Script(batch, batch)
    with pytest.raises(DuplicatePageToken, match="/q/01g-2000"):
        walk(SOQL, send, Request("/query", {"q": "SELECT Id FROM Account"}))
    assert send.sent[1] == Request("/q/01g-2000")


# -- cursor export with `end_of_stream` ------------------------------------------------------

EXPORT = Stream("/export.json", "tickets", cursor_export("export repeated cursor {token!r}"))


def export_page(cursor: str | None, end: bool | None, tickets: list[int] | None = None) -> dict:
    page: dict[str, Any] = {"tickets": tickets or [], "after_cursor": cursor}
    return page if end is None else {**page, "end_of_stream": end}


def test_export_end_of_stream_true_ends_with_its_cursor() -> None:
    """`end_of_stream: true` ends the export, although its page still names a cursor (the
    one to resume from next run)."""
    send = Script(export_page("resume", True, [1]))
    answers = list(EXPORT.pages(send, {"start_time": 0}))
    assert answers[0]["after_cursor"] == "resume" and len(send.sent) == 1


@pytest.mark.parametrize("end", [None, False])
def test_export_empty_page_without_end_of_stream_goes_on(end: bool | None) -> None:
    """An empty page is not the end of an export, `end_of_stream` is: missing or false,
    the next page is asked for at the cursor."""
    send = Script(export_page("c1", end), export_page("c2", True, [4]))
    assert [a["tickets"] for a in EXPORT.pages(send, {"start_time": 0})] == [[], [4]]


def test_export_cursor_takes_the_place_of_start_time() -> None:
    """The cursor goes first and replaces `start_time` (an export resumed by cursor names
    no start); the other parameters stay as they were."""
    send = Script(export_page("c1", False), export_page("c2", True))
    list(EXPORT.pages(send, {"start_time": 60, "per_page": 1000, "include": "users"}))
    assert list(send.sent[1].params.items()) == [
        ("cursor", "c1"),
        ("per_page", 1000),
        ("include", "users"),
    ]


@pytest.mark.parametrize("second", ["c1", None])
def test_export_same_or_no_cursor_without_end_raises(second: str | None) -> None:
    """Without `end_of_stream`, a cursor already followed (or none at all) cannot move
    the export on."""
    send = Script(export_page("c1", False), export_page(second, None))
    with pytest.raises(DuplicatePageToken, match=rf"^export repeated cursor {second!r}$"):
        list(EXPORT.pages(send, {"cursor": "c0"}))


# -- time-based export ----------------------------------------------------------------------

TIMES = Stream("/orgs.json", "organizations", TimeExport("z {path} repeated {token!r}"))


def test_time_export_moves_start_time_to_each_end_time() -> None:
    """Each page's `end_time` is where the next one starts."""
    send = Script({"end_time": 100}, {"end_time": 200, "end_of_stream": True})
    list(TIMES.pages(send, {"start_time": 10, "per_page": 1000}))
    assert [r.params for r in send.sent] == [
        {"start_time": 10, "per_page": 1000},
        {"start_time": 100, "per_page": 1000},
    ]


@pytest.mark.parametrize("end", [10, 5, None, "100"])
def test_time_export_end_time_that_does_not_move_raises(end: Any) -> None:
    """A full page whose records share one second names that second as its end: starting
    there again serves the same page forever (and an `end_time` that is no whole second
    names no start at all)."""
    with pytest.raises(DuplicatePageToken, match=rf"^z /orgs.json repeated {end!r}$"):
        list(TIMES.pages(Script({"end_time": end}), {"start_time": 10}))


def test_time_export_end_of_stream_ends_whatever_end_time_says() -> None:
    """`end_of_stream: true` ends it even when its `end_time` does not move."""
    send = Script({"end_time": 10, "end_of_stream": True})
    assert len(list(TIMES.pages(send, {"start_time": 10}))) == 1


# -- offsets counted by the reader (`startAt`) ----------------------------------------------

COMMENTS = OffsetPaging("comments", lambda page, start: start >= page.get("total", 0))


def test_offset_counts_what_was_served_not_what_was_asked() -> None:
    """Jira Cloud serves 100 comments a page whatever `maxResults` asks: the next offset
    is after the records served, so none is skipped."""
    send = Script({"comments": [1, 2], "total": 5}, {"comments": [3, 4, 5], "total": 5})
    walk(COMMENTS, send, Request("/c", {"startAt": 0, "maxResults": 100}))
    assert [r.params for r in send.sent] == [
        {"startAt": 0, "maxResults": 100},
        {"startAt": 2, "maxResults": 100},
    ]


def test_offset_empty_page_ends_although_total_says_more() -> None:
    """An empty page ends the walk even if `total` promised more (a comment deleted while
    reading): asking again at the same offset would loop."""
    send = Script({"comments": [], "total": 9})
    assert len(walk(COMMENTS, send, Request("/c", {"startAt": 0}))) == 1


@pytest.mark.parametrize(("is_last", "pages"), [(None, 1), (True, 1), (False, 2)])
def test_offset_is_last_missing_is_taken_for_true(is_last: bool | None, pages: int) -> None:
    """Jira's project listing: `isLast` false goes on; missing is taken for the end."""
    projects = OffsetPaging("values", lambda page, _start: bool(page.get("isLast", True)))
    first = {"values": [1]} if is_last is None else {"values": [1], "isLast": is_last}
    send = Script(first, {"values": [2], "isLast": True})
    assert len(walk(projects, send, Request("/p", {"startAt": 0}))) == pages


# -- a search paged by offsets up to a cap ---------------------------------------------------


def search(after: str | None, total: int = 50, results: int = 2) -> dict[str, Any]:
    return {"total": total, **after_page(list(range(results)), after)}


def test_search_stops_before_paging_past_the_cap() -> None:
    """Paging past 10,000 results answers 400: the page whose next offset would pass the cap
    comes flagged, and nothing more is asked for (the caller restarts from its position)."""
    paging = CappedSearch(limit=200, cap=10_000, repeated="{token}")
    send = Script(search("9600"), search("9900"))
    flags = [capped for _answer, capped in paging.pages(send, Request("/s", body={}))]
    assert flags == [False, True] and send.sent[1].body == {"after": "9600"}


def test_search_counts_offsets_itself_when_after_is_opaque() -> None:
    """An `after` that is no number says nothing of the offset: the results received count."""
    paging = CappedSearch(limit=2, cap=4, repeated="{token}")
    send = Script(search("a"), search("b"))
    assert [c for _a, c in paging.pages(send, Request("/s", body={}))] == [False, True]


def test_search_total_that_drops_is_heard_as_a_move() -> None:
    """A `total` that drops between pages: a record left the results, the offsets moved up
    one place and a record slid past the page boundary unread."""
    heard: list[str] = []
    paging = CappedSearch(200, 10_000, "{token}", shrank=lambda: heard.append("shrank"))
    send = Script(search("2", total=50), search("4", total=50), search(None, total=49))
    list(paging.pages(send, Request("/s", body={})))
    assert heard == ["shrank"]


def test_search_same_after_twice_raises() -> None:
    """The same `after` twice would read the same page forever."""
    paging = CappedSearch(200, 10_000, "deals search repeated after={token}")
    with pytest.raises(DuplicatePageToken, match="^deals search repeated after=2$"):
        list(paging.pages(Script(search("2"), search("2")), Request("/s", body={})))


# -- a scroll kept on the server -------------------------------------------------------------

SCROLL = ScrollPaging("data", "scroll is not moving on")


def scroll(ids: list[int], param_: str | None = "s1") -> dict[str, Any]:
    return {"data": [{"id": i} for i in ids], "scroll_param": param_}


def test_scroll_ends_on_an_empty_page_and_hands_it_no_further() -> None:
    """An empty `data` is how a scroll ends; that page holds nothing to hand on."""
    send = Script(scroll([1, 2]), scroll([]))
    assert len(walk(SCROLL, send, Request("/scroll"))) == 1
    assert [r.params for r in send.sent] == [{}, {"scroll_param": "s1"}]


def test_scroll_page_of_ids_already_read_raises_after_it() -> None:
    """A page with no id not read before is a scroll that is not moving on."""
    pages = SCROLL.pages(Script(scroll([1, 2]), scroll([2, 1])), Request("/scroll"))
    next(pages), next(pages)
    with pytest.raises(DuplicatePageToken, match="^scroll is not moving on$"):
        next(pages)


def test_scroll_without_a_scroll_param_raises() -> None:
    """A page with records but no `scroll_param` names no way on."""
    with pytest.raises(DuplicatePageToken):
        walk(SCROLL, Script(scroll([1], None)), Request("/scroll"))


# -- reading again from where a record moved -------------------------------------------------


def watched(restart: datetime | None) -> MovedWhileRead:
    moved = MovedWhileRead()
    moved.restart_from = restart
    return moved


def test_rereads_none_when_nothing_moved() -> None:
    """Nothing moved: nothing is read again and the next run needs no earlier start."""
    result = _drain(reread_moved(watched(None), lambda at, moved: pytest.fail("read again")))
    assert result == ([], None)


def test_rereads_from_where_the_move_began_until_still() -> None:
    """A move read again from its start; once a re-read sees no move, the walk is done."""
    starts: list[datetime] = []

    def again(at: datetime, moved: MovedWhileRead) -> Any:
        starts.append(at)
        yield at
        if len(starts) == 1:
            moved.restart_from = at + timedelta(seconds=1)

    assert _drain(reread_moved(watched(T0), again)) == ([T0, T0 + timedelta(seconds=1)], None)


def test_rereads_give_up_and_name_the_next_run_start() -> None:
    """A list still moving after REREADS re-reads: the rest is left to the next run, from
    where the last move began."""

    def again(at: datetime, moved: MovedWhileRead) -> Any:
        moved.restart_from = at - timedelta(seconds=1)
        yield at

    read, restart = _drain(reread_moved(watched(T0), again))
    assert len(read) == REREADS and restart == T0 - timedelta(seconds=REREADS)


def _drain(walker: Any) -> tuple[list[Any], Any]:
    items: list[Any] = []
    while True:
        try:
            items.append(next(walker))
        except StopIteration as stop:
            return items, stop.value
