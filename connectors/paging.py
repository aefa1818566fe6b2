"""How each API says "there is another page", and when a walk must stop.

A paginator walks one listing: it sends the first request, hands each answer on, reads in
the answer where the next page is, and puts that position into the next request. Each one
owns its guards: a position followed once already, or one that does not move, raises
`DuplicatePageToken` instead of reading the same pages forever. Sending is the connector's
(`send`: its ApiClient, its answer checks), so retries and time-outs stay in one place.

A listing is data (`Stream`): where it is, where an answer holds its records, which cursor
it keeps and how it pages. Whatever a connector does with the records happens between two
answers: a consumer that stops reading (an `until` reached) sends nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from connectors.base import REREADS, DuplicatePageToken, MovedWhileRead

T = TypeVar("T")
Answer = Any  # a parsed JSON body, or the response itself where a header pages (`Link`)
Reader = Callable[[Answer], Any]


@dataclass(frozen=True)
class Request:
    """One page's request: a path (or a full URL the API handed back), its query and, for a
    search sent as POST, its JSON body."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None


Send = Callable[[Request], Answer]
Put = Callable[[Request, Any], Request]


class Paging(Protocol):
    def pages(self, send: Send, first: Request) -> Iterator[Answer]: ...


@dataclass(frozen=True)
class Stream:
    """One listing as the tool documents it: its path, the key its records sit under in an
    answer, the name its cursor is saved under (None: it keeps none) and its paginator."""

    path: str
    records: str
    paging: Paging
    cursor: str | None = None

    def pages(
        self, send: Send, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Iterator[Answer]:
        return self.paging.pages(send, Request(self.path, dict(params or {}), body))


def at(dotted: str) -> Reader:
    """A reader of `a.b.c` in an answer; a missing or empty step reads as None."""
    keys = dotted.split(".")

    def read(answer: Answer) -> Any:
        value = answer
        for key in keys:
            value = (value or {}).get(key)
        return value

    return read


def next_link(response: Answer) -> Any:
    """The URL of `Link: <...>; rel="next"` (RFC 8288), None on the last page."""
    return response.links.get("next", {}).get("url")


def same(token: Any) -> Any:
    return token


# Where the position goes in the next request.
def param(name: str) -> Put:
    """As a query parameter (`page[after]`, `after`, `nextPageToken`)."""
    return lambda request, token: replace(request, params={**request.params, name: token})


def body_key(*keys: str) -> Put:
    """Into the JSON body, at `keys` (`after`; `pagination.starting_after`)."""

    def put(request: Request, token: Any) -> Request:
        def placed(part: dict[str, Any], rest: tuple[str, ...]) -> dict[str, Any]:
            if len(rest) == 1:
                return {**part, rest[0]: token}
            return {**part, rest[0]: placed(part.get(rest[0]) or {}, rest[1:])}

        return replace(request, body=placed(request.body or {}, keys))

    return put


def follow(request: Request, url: Any) -> Request:
    """The API hands back the next page's whole address: ask for it as it is."""
    return Request(str(url))


def in_front(name: str, drops: tuple[str, ...]) -> Put:
    """As the first parameter, in place of the ones that only start a walk (`start_time`)."""

    def put(request: Request, token: Any) -> Request:
        rest = {k: v for k, v in request.params.items() if k not in (name, *drops)}
        return replace(request, params={name: token, **rest})

    return put


@dataclass(frozen=True)
class TokenPaging:
    """The next page's position is in the answer (a token, a cursor, a URL). The walk ends
    on the end signal the API documents, never on a short or empty page: `done` true, or
    `more` false, or (with neither) the position absent. While the API says more follows, a
    position that is absent or was followed already cannot move on: `repeated` (formatted
    with `path` and `token`) is the DuplicatePageToken's message. `key` turns a position into
    what is sent and compared (Zendesk's link-list cursor is a URL standing for a number)."""

    token: Reader
    put: Put
    repeated: str
    more: Reader | None = None
    done: Reader | None = None
    key: Callable[[Any], Any] = same

    def pages(self, send: Send, first: Request) -> Iterator[Answer]:
        request, followed = first, set()
        while True:
            answer = send(request)
            yield answer
            token = self.token(answer)
            if self.done is not None:
                ended = bool(self.done(answer))
            else:
                ended = not (self.more(answer) if self.more is not None else token)
            if ended:
                return
            value = self.key(token)
            if value in (None, "") or value in followed:
                raise DuplicatePageToken(self.repeated.format(path=first.path, token=token))
            followed.add(value)
            request = self.put(request, value)


def has_more(token: str, put: Put, repeated: str, key: Callable[[Any], Any] = same) -> TokenPaging:
    """Cursor paging with a flag (Zendesk's `meta.has_more`): false is the end, not a short
    page; true with no cursor, or one read before, cannot go on."""
    return TokenPaging(at(token), put, repeated, more=at("meta.has_more"), key=key)


def next_token(token: str, put: Put, repeated: str) -> TokenPaging:
    """A next-page token or `after` cursor (Jira's `nextPageToken`, HubSpot's
    `paging.next.after`, Intercom's `pages.next.starting_after`): only its absence ends the
    walk; Jira's `isLast` is unreliable and every one of them serves short pages."""
    return TokenPaging(at(token), put, repeated)


def link_header(repeated: str) -> TokenPaging:
    """`Link: <...>; rel="next"` (Freshdesk): its absence on a page is the only end, and
    the next page is asked for at the URL it names. `send` answers the response itself."""
    return TokenPaging(next_link, follow, repeated)


def soql_query(repeated: str) -> TokenPaging:
    """A SOQL query's batches (Salesforce): `done: true` is the end; until then the next
    batch is at `nextRecordsUrl`, and without one the query cannot go on."""
    return TokenPaging(at("nextRecordsUrl"), follow, repeated, done=at("done"))


def cursor_export(repeated: str) -> TokenPaging:
    """A cursor-based incremental export (Zendesk's tickets): `end_of_stream` true, not an
    empty page, ends it, and that last page still carries an `after_cursor` to resume from.
    The cursor replaces the `start_time` the export began from."""
    return TokenPaging(
        at("after_cursor"),
        in_front("cursor", ("start_time",)),
        repeated,
        done=at("end_of_stream"),
    )


@dataclass(frozen=True)
class TimeExport:
    """A time-based incremental export (Zendesk's organisations): each page names the
    `end_time` the next one starts at, and `end_of_stream` true ends it. An `end_time` that
    is no whole second, or does not move past the page's start (a full page of records
    sharing one second restarts there and is served again), cannot go on: `repeated`,
    formatted with `path` and `token`."""

    repeated: str
    start: str = "start_time"

    def pages(self, send: Send, first: Request) -> Iterator[Answer]:
        request = first
        while True:
            answer = send(request)
            yield answer
            if answer.get("end_of_stream"):
                return
            end = answer.get("end_time")
            if not isinstance(end, int) or end <= request.params[self.start]:
                raise DuplicatePageToken(self.repeated.format(path=first.path, token=end))
            request = replace(request, params={**request.params, self.start: end})


@dataclass(frozen=True)
class OffsetPaging:
    """Offsets counted by the reader (Jira's `startAt`): the next page starts after the
    records served, not after the page size asked (Jira Cloud serves comments 100 at a
    time whatever `maxResults` says). An empty page ends it, an offset cannot pass the end,
    and so does `last` (told the answer and the next offset): `isLast`, or a `total`
    reached."""

    records: str
    last: Callable[[Answer, int], bool]
    offset: str = "startAt"

    def pages(self, send: Send, first: Request) -> Iterator[Answer]:
        request, start = first, first.params.get(self.offset, 0)
        while True:
            answer = send(request)
            yield answer
            served = answer.get(self.records) or []
            start += len(served)
            if not served or self.last(answer, start):
                return
            request = replace(request, params={**request.params, self.offset: start})


@dataclass(frozen=True)
class CappedSearch:
    """A search paged by offsets it hands out (HubSpot's `paging.next.after`) up to a cap
    (10,000 results: paging past it answers 400). Each answer comes with whether the cap
    stops the query after it; the caller then restarts from a compound position (time,
    id), which the cap cannot stop. No `paging.next` is the end.

    An offset counts places in a list that moves: a `total` that drops between pages means
    a record left the results and everything behind it moved up one place, so the next page
    skips one. `shrank` hears of it, and the caller reads again from before the move."""

    limit: int
    cap: int
    repeated: str
    shrank: Callable[[], None] | None = None

    def pages(self, send: Send, first: Request) -> Iterator[tuple[Answer, bool]]:
        request, followed = first, set()
        received = 0
        total: int | None = None
        while True:
            answer = send(request)
            received += len(answer["results"])
            count = answer.get("total")
            if isinstance(count, int):
                if self.shrank is not None and total is not None and count < total:
                    self.shrank()
                total = count
            after = at("paging.next.after")(answer)
            # `after` is the offset of the next page; count ourselves if it is opaque.
            offset = int(after) if after and str(after).isdigit() else received
            capped = bool(after) and offset + self.limit > self.cap
            yield answer, capped
            if not after or capped:
                return
            if after in followed:
                raise DuplicatePageToken(self.repeated.format(path=first.path, token=after))
            followed.add(after)
            request = body_key("after")(request, after)


@dataclass(frozen=True)
class ScrollPaging:
    """A scroll whose position lives on the server (Intercom's companies): the same
    `scroll_param` serves each next page, and an empty page is how a scroll ends. A page
    with no id not seen before, or without a `scroll_param`, is not moving on:
    `repeated`, formatted with `path`."""

    records: str
    repeated: str
    token: str = "scroll_param"

    def pages(self, send: Send, first: Request) -> Iterator[Answer]:
        request, seen = first, set()
        while True:
            answer = send(request)
            served = answer.get(self.records) or []
            if not served:
                return
            fresh = 0
            for raw in served:
                fresh += str(raw.get("id")) not in seen
                seen.add(str(raw.get("id")))
            yield answer
            if not fresh or not answer.get(self.token):
                raise DuplicatePageToken(self.repeated.format(path=first.path))
            request = replace(request, params={self.token: answer[self.token]})


def reread_moved(
    moved: MovedWhileRead, again: Callable[[datetime, MovedWhileRead], Iterator[T]]
) -> Generator[T, None, datetime | None]:
    """After a walk by offsets (HubSpot's search `after`, Freshdesk's page numbers) that
    `moved` watched: while a record moved under it, which makes the offsets skip another,
    `again` reads from where the move began, with a new watch, at most REREADS times. What
    is returned is where the next run must start if the list is still moving, else None."""
    for _ in range(REREADS):
        if moved.restart_from is None:
            return None
        restart, moved = moved.restart_from, MovedWhileRead()
        yield from again(restart, moved)
    return moved.restart_from
