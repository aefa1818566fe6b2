"""Zendesk Support: tickets from the cursor-based incremental export, organisations as
accounts, and the links its Jira integration keeps.

The export is the only complete, ordered view of tickets: start from a unix time at least
a minute in the past, follow `after_cursor`, and stop only on `end_of_stream: true`. That
last page still carries an `after_cursor`, saved to resume from on the next run. Deleted
tickets stay in the export with `status: "deleted"`: they become the page's deletes.

Organisations and Jira links are listings (connectors.base.listing_read): read in full
now and then, so that deleted ones leave the store, and in between only what changed.
Changed organisations come from the time-based incremental organisation export (from a
unix start_time, next from each page's `end_time`, until `end_of_stream`); new Jira links
from the link list, which is ordered by id, after the last id seen, 1,000 a page.

The Jira link list is documented "Allowed for Admins": with an agent's token it answers
403 and only it does. That switches off the Jira links alone (noted in `self.missing`, with
what to change); organisations and tickets keep flowing, and no stored link is pruned on
the word of a refused listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.base import (
    Capability,
    Connector,
    CursorReader,
    ListingRead,
    Page,
    Window,
    before,
    convert,
    listing_read,
    parse_time,
    unix_seconds,
)
from connectors.http import NONE, ApiError, Shape
from connectors.paging import Request, Stream, TimeExport, cursor_export, has_more, param
from connectors.zendesk.settings import ZENDESK, ZendeskSettings
from models import Account, Feedback, ToolLink

TICKETS = "zendesk.tickets"
ORGANIZATIONS = "zendesk.organizations"
JIRA_LINKS = "zendesk.jira_links"
LINK_LIST = "/api/v2/jira/links"
ORGANIZATION_EXPORT = "/api/v2/incremental/organizations.json"
EXPORT_PAGE = 1000  # the incremental exports' largest page
LINK_PAGE = 1000  # the Jira link list's largest (and default) page
EXPORT_DELAY = timedelta(seconds=60)
# Pages as documented: a page whose paging keys have other types is no answer.
CURSOR_PAGING = (("meta.has_more", (bool,)), ("meta.after_cursor", (str, NONE)))
LINKS_PAGE = Shape("links", CURSOR_PAGING)
TICKET_EXPORT_PAGE = Shape(
    "tickets", (("end_of_stream", (bool, NONE)), ("after_cursor", (str, NONE)))
)
ORGANIZATION_EXPORT_PAGE = Shape(
    "organizations", (("end_of_stream", (bool, NONE)), ("end_time", (int, NONE)))
)
TICKET_EXPORT = Stream(
    "/api/v2/incremental/tickets/cursor.json",
    "tickets",
    cursor_export("zendesk export repeated cursor {token!r}"),
    TICKETS,
)
CHANGED_ORGANIZATIONS = Stream(
    ORGANIZATION_EXPORT, "organizations", TimeExport("zendesk {path} repeated {token!r}")
)
CURSOR_PAGES = has_more(
    "meta.after_cursor", param("page[after]"), "zendesk {path} repeated cursor {token!r}"
)


def ticket_from_raw(raw: dict[str, Any], site: str, users: dict[Any, dict[str, Any]]) -> Feedback:
    requester = users.get(raw.get("requester_id"), {})
    organization = raw.get("organization_id")
    return Feedback(
        source="zendesk",
        id=str(raw["id"]),
        url=f"{site}/agent/tickets/{raw['id']}",
        subject=raw.get("subject") or "",
        body=raw.get("description") or "",
        status=raw.get("status") or "",
        tags=tuple(raw.get("tags") or ()),
        requester_email=requester.get("email"),
        requester_name=requester.get("name"),
        account_id=str(organization) if organization is not None else None,
        created_at=parse_time(raw["created_at"], "created_at") if raw.get("created_at") else None,
        updated_at=parse_time(raw["updated_at"], "updated_at"),
        priority=str(raw.get("priority") or "").lower() or None,  # low, normal, high, urgent
    )


def organization_from_raw(raw: dict[str, Any], site: str) -> Account:
    return Account(
        source="zendesk",
        id=str(raw["id"]),
        url=f"{site}/agent/organizations/{raw['id']}",
        name=raw["name"],
        domains=tuple(raw.get("domain_names") or ()),
        updated_at=parse_time(raw["updated_at"], "updated_at"),
    )


def jira_link_from_raw(raw: dict[str, Any], site: str) -> ToolLink:
    return ToolLink(
        source="zendesk",
        id=str(raw["id"]),
        # The link shows in the Jira app's sidebar of its ticket: the page a person opens.
        url=f"{site}/agent/tickets/{raw['ticket_id']}",
        record_id=str(raw["ticket_id"]),
        issue_key=raw["issue_key"],
        updated_at=parse_time(raw.get("updated_at") or raw["created_at"], "updated_at"),
    )


class ZendeskConnector(Connector[ZendeskSettings]):
    tool = "zendesk"
    part = ZENDESK
    # Why a backfill's dry run cannot say how many records a window holds.
    no_count = (
        "Zendesk's incremental export has no count: it says how many records a window "
        "holds only by reading its pages"
    )

    def configure(self, settings: ZendeskSettings) -> None:
        assert settings.zendesk_url and settings.zendesk_email and settings.zendesk_api_token
        self.site = settings.zendesk_url.rstrip("/")
        token = settings.zendesk_api_token.get_secret_value()
        auth = (f"{settings.zendesk_email}/token", token)
        self.api = self.api_client(settings.zendesk_url, token, auth=auth)

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        if listings:
            started = datetime.now(UTC)
            for stream, read_listing in (
                (ORGANIZATIONS, self.organizations),
                (JIRA_LINKS, self.jira_links),
            ):
                saved = cursor_for(stream)
                yield from read_listing(listing_read(saved, full, started, self.settings), saved)
        yield from self.tickets(None if full else cursor_for(TICKETS), since, until)

    def organizations(self, read: ListingRead | None = None, saved: Any = None) -> Iterator[Page]:
        """Every organisation (the last page names them all, so deleted ones leave the
        store), or those the incremental export says changed since `read.since`."""
        read = read or ListingRead(None, datetime.now(UTC))
        if read.since is not None:
            yield from self._changed_organizations(read)
            return
        seen: set[str] = set()
        pages = self._cursor_pages("/api/v2/organizations.json", "organizations", 100)
        for raw_page in pages:
            page = Page("zendesk", "account", ORGANIZATIONS)
            for raw in raw_page:
                convert(page, raw, lambda r: organization_from_raw(r, self.site))
            seen.update(str(raw.get("id")) for raw in raw_page)
            yield page
        yield read.closing("zendesk", "account", ORGANIZATIONS, seen)

    def _changed_organizations(self, read: ListingRead) -> Iterator[Page]:
        assert read.since is not None
        complete_to = datetime.now(UTC)

        def send(request: Request) -> Any:
            nonlocal complete_to
            # The export leaves out the last minute's changes: everything before is in it.
            complete_to = datetime.now(UTC) - EXPORT_DELAY
            return self.api.get_json(request.path, ORGANIZATION_EXPORT_PAGE, params=request.params)

        params = {"start_time": _start_time(read.since), "per_page": EXPORT_PAGE}
        for body in CHANGED_ORGANIZATIONS.pages(send, params):
            raws = body.get("organizations") or []
            page = Page("zendesk", "account", ORGANIZATIONS)
            for raw in raws:
                convert(page, raw, lambda r: organization_from_raw(r, self.site))
            end = body.get("end_time")
            if body.get("end_of_stream"):
                newest = parse_time(end) if isinstance(end, int) else complete_to
                page.cursor = read.cursor(max(newest, complete_to))
            yield page

    def jira_links(self, read: ListingRead | None = None, saved: Any = None) -> Iterator[Page]:
        """Every link (the last page names them all, so removed ones leave the store), or
        the links made since the last read: ids only grow, and the list is in id order.

        A refused listing (an agent's token: 403) switches the links off for this pull:
        no closing page, so nothing stored is pruned and the cursor stays where it was."""
        read = read or ListingRead(None, datetime.now(UTC))
        after = saved.get("after_id") if isinstance(saved, dict) and not read.full else None
        newest = int(after) if after is not None else 0
        seen: set[str] = set()
        params: dict[str, Any] = {"page[size]": min(self.settings.page_size * 10, LINK_PAGE)}
        if after is not None:
            params["page[after]"] = int(after)
        try:
            for raw_page in self._link_pages(params):
                page = Page("zendesk", "tool_link", JIRA_LINKS)
                for raw in raw_page:
                    if isinstance(raw.get("id"), int):
                        newest = max(newest, raw["id"])
                    if _keyless(raw):
                        continue
                    convert(page, raw, lambda r: jira_link_from_raw(r, self.site))
                    seen.add(str(raw.get("id")))
                yield page
        except ApiError as error:
            if not self._links_refused(error):
                raise
            return
        yield read.closing("zendesk", "tool_link", JIRA_LINKS, seen, after_id=newest)

    def ticket_links(self, ticket_id: str) -> list[ToolLink] | None:
        """The Jira links of one ticket (they change without the ticket's own fields
        changing); None when Zendesk refuses the listing, which says nothing about them."""
        params: dict[str, Any] = {"filter[ticket_id]": ticket_id, "page[size]": 100}
        try:
            return [
                jira_link_from_raw(raw, self.site)
                for raw_page in self._link_pages(params)
                for raw in raw_page
                if not _keyless(raw) and str(raw.get("ticket_id")) == str(ticket_id)
            ]
        except ApiError as error:
            if not self._links_refused(error):
                raise
            return None

    def _links_refused(self, error: ApiError) -> bool:
        """A 403 (the token is an agent's) or 404 (no Jira integration: what Zendesk answers
        then is unconfirmed) on the link list switches the links off, noted once with what to
        change; anything else is an error."""
        if error.status not in (403, 404):
            return False
        self.missing.note("jira_links", links_missing_reason(error.status))
        return True

    def _link_pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The Jira link list's cursor paging: `meta.has_more` false is the end, not a short
        page. `meta.after_cursor` is documented as a URL (`.../jira/links?page[after]=5000`)
        whose `page[after]` is an integer: that number goes back, not the URL. (The records
        sit under `links`, so this list has no `links.next` of the standard cursor paging.)"""

        def send(request: Request) -> Any:
            return self.api.get_json(request.path, LINKS_PAGE, params=request.params)

        for body in JIRA_LINK_LIST.pages(send, params):
            yield body[JIRA_LINK_LIST.records]

    def _cursor_pages(
        self, path: str, key: str, largest: int, after: Any = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Zendesk's cursor pagination: `meta.has_more` false is the end, not a short page."""
        params: dict[str, Any] = {"page[size]": min(self.settings.page_size * 10, largest)}
        if after is not None:
            params["page[after]"] = after

        def send(request: Request) -> Any:
            return self.api.get_json(request.path, Shape(key, CURSOR_PAGING), params=request.params)

        for body in Stream(path, key, CURSOR_PAGES).pages(send, params):
            yield body[key]

    def tickets(
        self, saved: Any, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """The export from the cursor (else from `since`, else from the beginning).

        The export has no upper bound: with `until`, it stops at the first ticket generated
        at or after it (the export is ordered by `generated_timestamp`, which is at or
        after `updated_at`), and that ticket and the rest of its page are left to a later
        window, whose start_time matches them again."""
        if saved:
            params: dict[str, Any] = {"cursor": saved}
        else:
            params = {"start_time": _start_time(since)}
        params.update({"per_page": min(self.settings.page_size * 10, 1000), "include": "users"})

        def send(request: Request) -> Any:
            return self.api.get_json(request.path, TICKET_EXPORT_PAGE, params=request.params)

        for body in TICKET_EXPORT.pages(send, params):
            users = {user.get("id"): user for user in body.get("users") or ()}
            page = Page("zendesk", "feedback", TICKETS)
            past_until = False
            for raw in body.get("tickets", []):
                if not before(_generated_at(raw), until):
                    past_until = True
                    break
                if raw.get("status") == "deleted":
                    # The export keeps deleted tickets, marked so: they leave the store.
                    if raw.get("id") is not None:
                        page.deleted_ids.append(str(raw["id"]))
                    continue
                build = partial(ticket_from_raw, site=self.site, users=users)
                convert(page, raw, build, context=_requester_context(raw, users))
            after = body.get("after_cursor")
            page.cursor = after or saved
            yield page
            if past_until:
                return


def _keyless(raw: dict[str, Any]) -> bool:
    """Legacy link rows may carry `issue_key: null`: they name no issue pmsync could count,
    and no later read will give them a key, so they are skipped, not dead letters."""
    return isinstance(raw, dict) and raw.get("issue_key") in (None, "")


def _page_after(cursor: Any) -> int | None:
    """The integer `page[after]` a link-list cursor stands for: the query parameter of the
    documented URL form, or the cursor itself when it is a bare number."""
    if isinstance(cursor, int) and not isinstance(cursor, bool):
        return cursor
    if not isinstance(cursor, str) or not cursor.strip():
        return None
    text = cursor.strip()
    if text.isdigit():
        return int(text)
    values = parse_qs(urlsplit(text).query).get("page[after]") or []
    return int(values[0]) if values and values[0].strip().isdigit() else None


# The link list's `meta.after_cursor` is documented as a URL whose `page[after]` is an
# integer: that number goes back, not the URL.
JIRA_LINK_LIST = Stream(
    LINK_LIST,
    "links",
    has_more(
        "meta.after_cursor",
        param("page[after]"),
        "zendesk {path} cannot move on from cursor {token!r}",
        key=_page_after,
    ),
    JIRA_LINKS,
)


def links_missing_reason(status: int | None) -> str:
    """What a refused Jira link list means, and what to change."""
    if status == 404:
        return (
            "Zendesk has no Jira link list (404): install Zendesk's Jira integration to have "
            "the links agents make on tickets counted"
        )
    return (
        "Zendesk lists Jira links for admins only and refused this token (403): set "
        "PMSYNC_ZENDESK_EMAIL and PMSYNC_ZENDESK_API_TOKEN to an admin's API token to have "
        "the links agents make on tickets counted"
    )


def capabilities(settings: ZendeskSettings) -> list[Capability]:
    """Zendesk's optional features for `pmsync check`: the Jira link list, probed with one
    one-link page."""
    connector = ZendeskConnector(settings)
    notes = notes_capability(connector)
    try:
        connector.api.get_json(LINK_LIST, params={"page[size]": 1})
    except ApiError as error:
        if error.status not in (403, 404):
            raise
        return [
            Capability("zendesk", "jira_links", False, links_missing_reason(error.status)),
            notes,
        ]
    links = Capability("zendesk", "jira_links", True, "the Jira links on tickets are read")
    return [links, notes]


def notes_capability(connector: ZendeskConnector) -> Capability:
    """Closing the loop writes a private comment on each ticket, which agents and admins
    may do and end users may not: the API user's role (`GET /api/v2/users/me`) tells."""
    user = connector.api.get_json("/api/v2/users/me.json").get("user") or {}
    role = user.get("role")
    if role in ("agent", "admin"):
        return Capability("zendesk", "closing_notes", True, f"private comments as an {role}")
    return Capability(
        "zendesk",
        "closing_notes",
        False,
        f"the API user's role is {role!r}: private comments need an agent or admin; use "
        "such a user's email and token in PMSYNC_ZENDESK_EMAIL and PMSYNC_ZENDESK_API_TOKEN",
    )


def _start_time(since: datetime | None) -> int:
    """The export's start: 0 (everything) or `since`, but never inside the last minute,
    which Zendesk refuses (422 InvalidValue)."""
    if since is None:
        return 0
    return min(unix_seconds(since), unix_seconds(datetime.now(UTC) - timedelta(seconds=61)))


def _generated_at(raw: dict[str, Any]) -> datetime | None:
    """When the export row was generated (what the export orders and matches by)."""
    stamp = raw.get("generated_timestamp")
    try:
        if isinstance(stamp, int | float):
            return parse_time(stamp)
        return parse_time(raw.get("updated_at"))
    except ValueError:
        return None


def _requester_context(raw: dict[str, Any], users: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """The sideloaded requester a ticket's model reads, kept with a dead letter (an empty
    list when the export sent none, which a replay tells from a letter kept without it)."""
    requester = users.get(raw.get("requester_id"))
    return {"users": [requester] if requester else []}
