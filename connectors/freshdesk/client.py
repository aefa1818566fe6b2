"""Freshdesk: tickets as feedback, deleted tickets as deletes, companies as accounts.

The story of a pull: list tickets updated since the cursor (ISO 8601 with Z; without
`updated_since` Freshdesk lists only the last 30 days), oldest change first, and follow the
`Link: <...>; rel="next"` header, whose absence is the only end. Freshdesk serves at most 300
pages per listing: at page 300 with a next link still there, the listing restarts at the
newest `updated_at` read and drops the tickets already read at that second. If all 300 pages
share that one second, restarting cannot move forward, and the pull stops with an error
rather than loop. Deleted tickets leave the ordinary list; `filter=deleted` lists them.
Companies are a listing (connectors.base.listing_read) read in full now and then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import (
    Capability,
    Connector,
    CursorReader,
    ListingRead,
    MovedWhileRead,
    Page,
    SeenAtNewest,
    Window,
    before,
    bookmark,
    convert,
    domain_of,
    html_to_text,
    iso_z,
    listing_read,
    parse_time,
)
from connectors.freshdesk.settings import FRESHDESK, FreshdeskSettings
from connectors.http import ApiClient, ApiError, AuthError
from connectors.paging import Request, Stream, link_header, next_link, reread_moved
from models import Account, Feedback

TICKETS = "freshdesk.tickets"
COMPANIES = "freshdesk.companies"
PAGE_CAP = 300  # Freshdesk refuses page 301 of any listing
PER_PAGE = 100  # its largest page
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
# Freshdesk's priorities 1-4 (Low, Medium, High, Urgent) in the words Feedback keeps.
PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
LINKED_PAGES = link_header("freshdesk {path} repeated next link {token}")
COMPANIES_MISSING = (
    "companies refused ({status}): no Freshdesk accounts; give the API key's agent a role "
    "that may view companies (Admin > Roles)"
)
DELETED_MISSING = (
    "deleted tickets refused ({status}): tickets deleted in Freshdesk stay counted until the "
    "next full sync; give the API key's agent a role that may delete tickets"
)


class PageCapError(RuntimeError):
    """More tickets share one `updated_at` second than 300 pages hold: no restart helps."""


def ticket_from_raw(raw: dict[str, Any], site: str) -> Feedback:
    requester = raw.get("requester") or {}
    company = raw.get("company_id")
    status = raw.get("status")
    return Feedback(
        source="freshdesk",
        id=str(raw["id"]),
        url=f"{site}/a/tickets/{raw['id']}",
        subject=raw.get("subject") or "",
        body=raw.get("description_text") or html_to_text(raw.get("description")),
        # Custom statuses (6 and up) keep their number: their names live in the admin.
        status=STATUSES.get(status, str(status)) if isinstance(status, int) else "",
        tags=tuple(raw.get("tags") or ()),
        requester_email=requester.get("email"),
        requester_name=requester.get("name"),
        account_id=str(company) if company is not None else None,
        created_at=parse_time(raw["created_at"], "created_at") if raw.get("created_at") else None,
        updated_at=parse_time(raw["updated_at"], "updated_at"),
        priority=PRIORITIES.get(raw.get("priority", 0)),
    )


def company_from_raw(raw: dict[str, Any], site: str) -> Account:
    return Account(
        source="freshdesk",
        id=str(raw["id"]),
        url=f"{site}/a/companies/{raw['id']}",
        name=raw.get("name") or "",
        # Typed by people: case and a stray `www.` or scheme must not hide a match.
        domains=tuple(dict.fromkeys(d for d in map(domain_of, raw.get("domains") or ()) if d)),
        updated_at=parse_time(raw["updated_at"], "updated_at"),
    )


def _updated_at(raw: dict[str, Any]) -> datetime | None:
    try:
        return parse_time(raw["updated_at"])
    except (KeyError, TypeError, ValueError):
        return None


class FreshdeskConnector(Connector[FreshdeskSettings]):
    tool = "freshdesk"
    part = FRESHDESK
    # Why a backfill's dry run cannot say how many records a window holds.
    no_count = (
        "Freshdesk's ticket list (updated_since) returns no total: it says how many tickets "
        "a window holds only by reading its pages"
    )

    def configure(self, settings: FreshdeskSettings) -> None:
        assert settings.freshdesk_url and settings.freshdesk_api_key
        self.site = settings.freshdesk_url.rstrip("/")
        key = settings.freshdesk_api_key.get_secret_value()
        # The API key is the user name; the password is ignored.
        self.api = self.api_client(self.site, key, auth=(key, "X"))

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        saved = None if full else cursor_for(TICKETS)
        start = since or EPOCH
        if saved:
            start = parse_time(saved) - timedelta(minutes=self.settings.lookback_minutes)
        if listings:
            read = listing_read(cursor_for(COMPANIES), full, datetime.now(UTC), self.settings)
            if read.full:
                yield from self.companies(read)
        # Pages are numbered: a ticket that changes or is deleted after this pull read it
        # shifts the listing and makes it skip another, so it is read again from there.
        moved = MovedWhileRead()
        yield from self.tickets(saved, start, until, moved)
        try:
            for page in self.deleted_tickets(start, until):
                moved.gone(page.deleted_ids)
                yield page
        except AuthError as error:
            self.missing.note("deleted_tickets", DELETED_MISSING.format(status=error.status))
        restart = yield from reread_moved(
            moved, lambda at, moved: self.tickets(None, at, until, moved)
        )
        if restart is not None:  # still moving: the next run starts there
            cursor = bookmark(restart, datetime.now(UTC))
            yield Page("freshdesk", "feedback", TICKETS, cursor=cursor)

    def _linked_pages(
        self, path: str, params: dict[str, Any]
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """A listing's pages, each with whether a `Link: rel="next"` follows it; its
        absence is the only end (a short or empty page is not)."""

        def send(request: Request) -> Any:
            return self.api.request("GET", request.path, params=request.params or None)

        for response in Stream(path, "[]", LINKED_PAGES).pages(send, params):
            url = next_link(response)
            page = response.json()
            if not isinstance(page, list):
                # A 200 with an error body (or a proxy's page) is no page: taken as an empty
                # one it would end the listing, and a full listing's end removes what it missed.
                shown = str(page)[:200]
                raise ApiError("freshdesk", f"{path} answered without a list: {shown}", status=200)
            yield page, bool(url)

    def _tickets_since(
        self, since: datetime, until: datetime | None = None, **extra: Any
    ) -> Iterator[list[dict[str, Any]]]:
        """Tickets changed at or after `since`, oldest first, through the 300-page cap.

        The listing has no upper bound: with `until`, it stops at the first ticket
        changed at or after it (the listing is in `updated_at` order)."""
        for raws in self._tickets_from(since, **extra):
            inside = [raw for raw in raws if before(_updated_at(raw), until)]
            # An unreadable updated_at stays in (for its dead letter); it ends nothing.
            ended = any(not before(at, until) for at in map(_updated_at, raws) if at)
            yield inside
            if ended:
                return

    def _tickets_from(self, since: datetime, **extra: Any) -> Iterator[list[dict[str, Any]]]:
        read = SeenAtNewest()
        while True:
            params = {
                "updated_since": iso_z(since),
                "order_by": "updated_at",
                "order_type": "asc",
                "per_page": PER_PAGE,
                "include": "requester,description",
                **extra,
            }
            oldest: datetime | None = None  # the listing's first change (it is in order)
            for number, (raws, more) in enumerate(self._linked_pages("/api/v2/tickets", params), 1):
                oldest = oldest or next((t for t in map(_updated_at, raws) if t), None)
                fresh = [r for r in raws if not read.repeats(str(r.get("id")), _updated_at(r))]
                for raw in fresh:
                    read.add(str(raw.get("id")), _updated_at(raw))
                yield fresh
                if number == PAGE_CAP and more:
                    break
            else:
                return  # the listing ended: no next link
            # Page 300 has a next link Freshdesk will refuse: restart at the newest second
            # read (updated_since is inclusive) and drop what was read at that second. If
            # the whole listing was that one second, the restart would fill 300 pages with
            # it again.
            if read.newest is None or oldest is None or oldest >= read.newest:
                raise PageCapError(
                    f"freshdesk: more than {PAGE_CAP} pages of tickets share updated_at "
                    f"{iso_z(read.newest or since)}; restarting there cannot move past them"
                )
            since = read.newest

    def tickets(
        self,
        saved: Any,
        since: datetime,
        until: datetime | None = None,
        moved: MovedWhileRead | None = None,
    ) -> Iterator[Page]:
        started = datetime.now(UTC)
        newest = parse_time(saved) if saved else None
        for raws in self._tickets_since(since, until):
            page = Page("freshdesk", "feedback", TICKETS)
            for raw in raws:
                if moved is not None:
                    moved.saw(str(raw.get("id")), _updated_at(raw))
                if raw.get("deleted") or raw.get("spam"):
                    # Not customers' demand: the ordinary list should not show them at all.
                    if raw.get("id") is not None:
                        page.deleted_ids.append(str(raw["id"]))
                    continue
                item = convert(page, raw, lambda r: ticket_from_raw(r, self.site))
                if item and (newest is None or item.updated_at > newest):
                    newest = item.updated_at
            page.cursor = bookmark(newest, started)
            yield page

    def deleted_tickets(self, since: datetime, until: datetime | None = None) -> Iterator[Page]:
        """Tickets deleted since the cursor (deleting a ticket updates it; unconfirmed)."""
        for raws in self._tickets_since(since, until, filter="deleted"):
            deleted = [str(raw["id"]) for raw in raws if raw.get("id") is not None]
            yield Page("freshdesk", "feedback", TICKETS + ".deleted", deleted_ids=deleted)

    def companies(self, read: ListingRead | None = None) -> Iterator[Page]:
        """Every company (the last page names them all, so deleted ones leave the store).
        Freshdesk cannot list companies by change time: between these full reads, a company
        a pulled ticket names that the store lacks is read by itself
        (flows.pipeline.read_named_accounts)."""
        read = read or ListingRead(None, datetime.now(UTC))
        seen: set[str] = set()
        try:
            for raws, _more in self._linked_pages("/api/v2/companies", {"per_page": PER_PAGE}):
                page = Page("freshdesk", "account", COMPANIES)
                for raw in raws:
                    convert(page, raw, lambda r: company_from_raw(r, self.site))
                    seen.add(str(raw.get("id")))
                yield page
        except AuthError as error:
            # No closing page: a listing read in part must not remove the rest.
            self.missing.note("companies", COMPANIES_MISSING.format(status=error.status))
            return
        yield read.closing("freshdesk", "account", COMPANIES, seen)


def capabilities(settings: FreshdeskSettings) -> list[Capability]:
    """Each optional read, probed with one cheap call: companies (accounts) and the deleted
    tickets listing (deletions between full syncs). A refusal marks that feature missing."""
    api = FreshdeskConnector(settings).api
    probes = [
        ("companies", "/api/v2/companies", {"per_page": 1}, "companies read as accounts"),
        (
            "deleted_tickets",
            "/api/v2/tickets",
            {"filter": "deleted", "per_page": 1},
            "deleted tickets leave the store at the next sync",
        ),
    ]
    refused = {"companies": COMPANIES_MISSING, "deleted_tickets": DELETED_MISSING}
    found = []
    for name, path, params, gives in probes:
        try:
            api.get_json(path, params=params)
        except AuthError as error:
            found.append(
                Capability("freshdesk", name, False, refused[name].format(status=error.status))
            )
            continue
        found.append(Capability("freshdesk", name, True, gives))
    return [*found, notes_capability(api)]


def notes_capability(api: ApiClient) -> Capability:
    """Closing the loop adds a private note to each ticket, which only agents may: the API
    key's owner must be one (`GET /api/v2/agents/me` answers only for an agent)."""
    try:
        agent = api.get_json("/api/v2/agents/me")
    except AuthError as error:
        return Capability(
            "freshdesk",
            "closing_notes",
            False,
            f"the API key's user is no agent ({error.status}): private notes need an agent's "
            "key in PMSYNC_FRESHDESK_API_KEY",
        )
    kind = agent.get("type") or "agent"
    return Capability("freshdesk", "closing_notes", True, f"private notes as a {kind}")
