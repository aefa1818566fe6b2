"""Intercom: conversations as feedback, companies as accounts.

The story of a pull: search conversations updated since the cursor, oldest first. Intercom
has `>` but no `>=`, so the query asks for `updated_at > last - 1` (unix seconds) and drops
a conversation this run already read at the same time. Pages follow
`pages.next.starting_after`; only its absence ends the search. A conversation's company is
its requester's: when the conversation does not name one, the requester's contact (read
once per run) names its companies.

A full sync reads every conversation, and what it did not name leaves the store (deleted in
Intercom); between full syncs a deleted conversation leaves it when re-read answers 404
(a `conversation.deleted` webhook, `pmsync` events).

Companies are a listing (connectors.base.listing_read) that Intercom cannot filter by change
time: read in full through the scroll API now and then (so deleted ones leave the store) and
not at all in between; a company a pulled conversation names that the store lacks is read by
itself (flows.pipeline.read_named_accounts).

Links point where a person can open the record: a conversation's inbox page,
`https://app.intercom.com/a/inbox/<app id_code>/inbox/conversation/<id>`, with the workspace's
`id_code` read once per run from `GET /me`. A token that may not read `/me` leaves the links
empty (the feature `inbox_urls` is reported missing) and the pull goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from connectors.base import (
    Capability,
    Connector,
    CursorReader,
    ListingRead,
    Page,
    Window,
    bookmark,
    convert,
    domain_of,
    html_to_text,
    listing_read,
    parse_time,
    unix_seconds,
)
from connectors.http import ApiError, AuthError, RetryableError
from connectors.intercom.settings import INTERCOM, IntercomSettings
from connectors.paging import Request, ScrollPaging, Stream, body_key, next_token
from models import Account, Feedback

log = logging.getLogger("pmsync.intercom")
VERSION = "2.11"  # the Intercom-Version every request names; the payloads below are its
CONVERSATIONS = "intercom.conversations"
COMPANIES = "intercom.companies"
SCROLL_RESTARTS = 3  # a companies scroll broken on the way is read again this many times
SEARCH_PAGE = 150  # Intercom's largest search page
ONE_BY_ONE = 5  # a page needing more contacts than this searches for them
CONTACTS_PER_SEARCH = 50  # ids in one `IN` filter (no documented limit: kept modest)
# Author types that are the customer; `admin` and `bot` are teammates (an admin-initiated
# conversation's customer is its first contact).
CUSTOMERS = {"user", "lead", "contact"}
# Intercom's regional API hosts and the app where people open what they hold. Any other
# address (a proxy, the sandbox) serves the app's pages beside its API.
APP_HOSTS = {
    "api.intercom.io": "https://app.intercom.com",
    "api.eu.intercom.io": "https://app.eu.intercom.com",
    "api.au.intercom.io": "https://app.au.intercom.com",
}
COMPANIES_MISSING = (
    "companies refused ({status}): no Intercom accounts; give the access token permission "
    "to read companies"
)
CONTACTS_MISSING = (
    "contacts refused ({status}): conversations that name no company count for no customer "
    "company; give the access token permission to read users and leads"
)
ME_MISSING = (
    "GET /me was refused ({status}): conversation and company links stay empty; give the "
    "access token permission to read admins (Intercom: Developer Hub > your app > "
    "Authentication)"
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]


def app_url(site: str) -> str:
    """Where people open the workspace whose API is at `site`."""
    return APP_HOSTS.get(urlsplit(site).hostname or "", site.rstrip("/"))


def inbox_url(app: str, id_code: str) -> str:
    """The inbox's conversation pages; a conversation's id follows the last slash."""
    return f"{app}/a/inbox/{quote(id_code, safe='')}/inbox/conversation"


def companies_url(app: str, id_code: str) -> str:
    return f"{app}/a/apps/{quote(id_code, safe='')}/companies"


def _subject(raw: dict[str, Any], body: str) -> str:
    """The title; else an emailed conversation's subject (HTML in `source.subject`, with the
    title left null); else the message's first line."""
    title = html_to_text(raw.get("title")) if raw.get("title") else ""
    if title:
        return _first_line(title)
    subject = html_to_text((raw.get("source") or {}).get("subject"))
    return _first_line(subject) or _first_line(body)


def _author(raw: dict[str, Any]) -> dict[str, Any]:
    author = (raw.get("source") or {}).get("author") or {}
    return author if author.get("type") in CUSTOMERS else {}


def requester_id(raw: dict[str, Any]) -> str | None:
    """The contact who asked: the source's author, else the conversation's first contact."""
    if _author(raw).get("id"):
        return str(_author(raw)["id"])
    contacts = (raw.get("contacts") or {}).get("contacts") or []
    return str(contacts[0]["id"]) if contacts and contacts[0].get("id") else None


def conversation_from_raw(
    raw: dict[str, Any], inbox: str | None, contacts: dict[str, dict[str, Any]]
) -> Feedback:
    """`inbox`: the inbox's conversation pages (`inbox_url`); None leaves the link empty."""
    author = _author(raw)
    contact = contacts.get(requester_id(raw) or "", {})
    body = html_to_text((raw.get("source") or {}).get("body"))
    company = raw.get("company_id") or (raw.get("company") or {}).get("id")
    if company is None:
        company = next(
            (c.get("id") for c in (contact.get("companies") or {}).get("data") or ()), None
        )
    return Feedback(
        source="intercom",
        id=str(raw["id"]),
        url=f"{inbox}/{quote(str(raw['id']), safe='')}" if inbox else "",
        subject=_subject(raw, body),
        body=body,
        status=raw.get("state") or "",
        tags=tuple(t["name"] for t in (raw.get("tags") or {}).get("tags") or ()),
        requester_email=author.get("email") or contact.get("email"),
        requester_name=author.get("name") or contact.get("name"),
        account_id=str(company) if company is not None else None,
        created_at=parse_time(raw["created_at"], "created_at") if raw.get("created_at") else None,
        updated_at=parse_time(raw["updated_at"], "updated_at"),
        # Intercom flags a conversation "priority" or "not_priority": the flag is a high one.
        priority="high" if raw.get("priority") == "priority" else None,
    )


def company_from_raw(raw: dict[str, Any], pages: str | None) -> Account:
    """`pages`: the app's company pages (`companies_url`); None leaves the link empty."""
    domain = domain_of(raw.get("website"))
    return Account(
        source="intercom",
        id=str(raw["id"]),
        url=f"{pages}/{quote(str(raw['id']), safe='')}" if pages else "",
        name=raw.get("name") or "",
        domains=(domain,) if domain else (),
        updated_at=parse_time(raw["updated_at"], "updated_at"),
    )


def answer_with(answer: Any, records: str, path: str) -> dict[str, Any]:
    """The answer, when it holds its list of records under `records`. A 200 can carry an
    error body (or a proxy's page): taken as an empty page it would end a listing early, and
    a full read's end removes from the store whatever it did not name."""
    if isinstance(answer, dict) and isinstance(answer.get(records), list):
        return answer
    shown = str(answer)[:200]
    raise ApiError("intercom", f"{path} answered without `{records}`: {shown}", status=200)


def _updated_at(raw: dict[str, Any]) -> datetime | None:
    try:
        return parse_time(raw["updated_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _updated_between(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The search for conversations updated at or after `since` and before `until`.

    No `>=` in Intercom's search: `> since - 1` is `>= since` in whole seconds."""
    after = unix_seconds(since) - 1 if since is not None else 0
    rules: list[dict[str, Any]] = [{"field": "updated_at", "operator": ">", "value": after}]
    if until is not None:
        rules.append({"field": "updated_at", "operator": "<", "value": unix_seconds(until)})
    return {"operator": "AND", "value": rules}


SEARCH_PAGES = next_token(
    "pages.next.starting_after",
    body_key("pagination", "starting_after"),
    "intercom {path} repeated starting_after {token!r}",
)
# In id order, so a company that changes while the run reads cannot shift out of a page.
COMPANY_SCROLL = Stream(
    "/companies/scroll",
    "data",
    ScrollPaging("data", "intercom companies scroll is not moving on"),
    COMPANIES,
)


class IntercomConnector(Connector[IntercomSettings]):
    tool = "intercom"
    part = INTERCOM

    def configure(self, settings: IntercomSettings) -> None:
        assert settings.intercom_url and settings.intercom_access_token
        self.site = settings.intercom_url.rstrip("/")
        token = settings.intercom_access_token.get_secret_value()
        self._contacts: dict[str, dict[str, Any]] = {}  # contact id -> contact, this run
        self._app: dict[str, Any] | None = None  # `GET /me`'s app, read once ({} if refused)
        headers = {"Authorization": f"Bearer {token}", "Intercom-Version": VERSION}
        self.api = self.api_client(self.site, token, headers=headers)

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        if listings:
            read = listing_read(cursor_for(COMPANIES), full, datetime.now(UTC), self.settings)
            if read.full:
                yield from self.companies(read)
        # A full read without bounds names every conversation Intercom has: the ones the store
        # holds that it did not name were deleted there.
        whole = full and since is None and until is None
        yield from self.conversations(
            None if full else cursor_for(CONVERSATIONS), since, until, whole
        )

    def app(self) -> dict[str, Any]:
        """The workspace (`GET /me`'s `app`), read once; {} when the token may not read it."""
        if self._app is None:
            self._app = {}
            try:
                found = self.api.get_json("/me").get("app")
            except ApiError as error:
                # Refused (401/403) or unknown (404): links stay empty, the pull goes on.
                if not isinstance(error, AuthError) and error.status != 404:
                    raise
                self.missing.note("inbox_urls", ME_MISSING.format(status=error.status))
                return self._app
            if isinstance(found, dict) and found.get("id_code"):
                self._app = found
            else:
                self.missing.note("inbox_urls", "GET /me named no app id_code: links stay empty")
        return self._app

    def inbox(self) -> str | None:
        """The inbox's conversation pages, or None (links stay empty) without the app."""
        id_code = self.app().get("id_code")
        return inbox_url(app_url(self.site), str(id_code)) if id_code else None

    def company_pages(self) -> str | None:
        id_code = self.app().get("id_code")
        return companies_url(app_url(self.site), str(id_code)) if id_code else None

    def _search(
        self, path: str, records: str, query: dict[str, Any], **extra: Any
    ) -> Iterator[dict[str, Any]]:
        """A search's pages: only an absent `pages.next` ends it, never a short page. Each
        answer holds its list under `records`; one without it is no answer at all."""
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": SEARCH_PAGE}, **extra}

        def send(request: Request) -> Any:
            answer = self.api.request("POST", request.path, json=request.body).json()
            return answer_with(answer, records, path)

        yield from Stream(path, records, SEARCH_PAGES).pages(send, body=body)

    def count(self, since: datetime | None, until: datetime | None) -> int | None:
        """Conversations updated in [since, until): the search's `total_count`."""
        body = {"query": _updated_between(since, until), "pagination": {"per_page": 1}}
        total = self.api.request("POST", "/conversations/search", json=body).json()
        return total.get("total_count") if isinstance(total.get("total_count"), int) else None

    def conversations(
        self,
        saved: Any,
        since: datetime | None = None,
        until: datetime | None = None,
        complete: bool = False,
    ) -> Iterator[Page]:
        """Conversations updated from the cursor (else `since`, else ever) until `until`.
        `complete`: the search reads every conversation, and a last page names them all."""
        started = datetime.now(UTC)
        newest = parse_time(saved) if saved else None
        if newest is not None:
            since = newest - timedelta(minutes=self.settings.lookback_minutes)
        query = _updated_between(since, until)
        # Oldest first, so the cursor saved with each page never passes an unread one
        # (the sort is accepted by the search though missing from Intercom's reference).
        sort = {"field": "updated_at", "order": "ascending"}
        read: dict[str, datetime] = {}  # id -> updated_at of what this run already read
        named: set[str] = set()  # every id the search served (unreadable ones too: they exist)
        for answer in self._search("/conversations/search", "conversations", query, sort=sort):
            raws = []
            for raw in answer.get("conversations") or []:
                at = _updated_at(raw)
                key = str(raw.get("id"))
                named.add(key)
                if at is not None and key in read and read[key] >= at:
                    continue  # read already this run: the `- 1` and moving pages repeat it
                if at is not None:
                    read[key] = at
                raws.append(raw)
            contacts = self._contacts_of(raws)
            page = Page("intercom", "feedback", CONVERSATIONS)
            inbox = self.inbox() if raws else None
            build = partial(conversation_from_raw, inbox=inbox, contacts=contacts)
            for raw in raws:
                # The inbox address goes with a dead letter, so its replay links the same.
                contact = contacts.get(requester_id(raw) or "") or {}
                context = {"contact": contact, "inbox": inbox}
                item = convert(page, raw, build, context=context)
                if item and (newest is None or item.updated_at > newest):
                    newest = item.updated_at
            page.cursor = bookmark(newest, started)
            yield page
        if complete:
            yield Page("intercom", "feedback", CONVERSATIONS, complete_ids=named)

    def _contacts_of(self, raws: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The requesters the page needs looked up (no company or email on the
        conversation), each fetched once per run: people write more than once.

        Many are found with a contacts search by id, a page of them a request (a full sync
        at 10,000 conversations made 3,000 one-by-one GETs); a few, and those the search
        index does not have yet (new contacts show up there minutes late), are read one
        by one."""
        needed: list[str] = []
        for raw in raws:
            requester = requester_id(raw)
            named = (raw.get("company_id") or raw.get("company")) and _author(raw).get("email")
            if requester and not named and requester not in self._contacts:
                needed += [] if requester in needed else [requester]
        try:
            self._look_up(needed)
        except AuthError as error:
            # Without contacts a conversation keeps what it names itself (its author's
            # email); its company, when it names none, stays unknown.
            self.missing.note("requester_companies", CONTACTS_MISSING.format(status=error.status))
            for requester in needed:
                self._contacts.setdefault(requester, {})
        return self._contacts

    def _look_up(self, needed: list[str]) -> None:
        if len(needed) > ONE_BY_ONE:
            for start in range(0, len(needed), CONTACTS_PER_SEARCH):
                ids = needed[start : start + CONTACTS_PER_SEARCH]
                query = {"field": "id", "operator": "IN", "value": ids}
                for answer in self._search("/contacts/search", "data", query):
                    for contact in answer.get("data") or []:
                        self._contacts[str(contact.get("id"))] = contact
        for requester in needed:
            if requester not in self._contacts:
                path = f"/contacts/{quote(requester, safe='')}"
                try:
                    self._contacts[requester] = self.api.get_json(path)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    self._contacts[requester] = {}  # deleted since it wrote: no company

    def companies(self, read: ListingRead | None = None) -> Iterator[Page]:
        """Every company through the scroll API: in id order, so a company that changes
        while the run reads cannot shift out of a page unseen (the paged list moves with
        `last_request_at` and stops at 10,000). An empty `data` is how a scroll ends; the
        last page names every id and saves when the listing was read.

        The scroll's position lives on Intercom's side: a page lost on the way (a dropped
        connection, a cut body) cannot be asked for again, since the same `scroll_param`
        serves the next one, and a closed or idle scroll answers 404. Such a scroll is read
        again from the start (SCROLL_RESTARTS times), so no company is missed."""
        read = read or ListingRead(None, datetime.now(UTC))
        named: set[str] = set()
        for restart in range(SCROLL_RESTARTS + 1):
            try:
                complete = yield from self._scroll(named)
            except ApiError as error:
                lost = isinstance(error, RetryableError) or error.status == 404
                if not lost or restart == SCROLL_RESTARTS:
                    raise
                log.warning("intercom: the companies scroll broke (%s); reading it again", error)
                continue
            if complete:
                yield read.closing("intercom", "account", COMPANIES, named)
            return

    def _scroll(self, named: set[str]) -> Generator[Page, None, bool]:
        """One scroll from its start, adding every company id to `named`; False when the
        token may not read companies (the feature is off, nothing is removed)."""

        def send(request: Request) -> Any:
            # Once open, only a 429 (which the server did not act on) is retried.
            retry_only = frozenset({429}) if request.params else None
            found = self.api.get_json(request.path, params=request.params, retry_only=retry_only)
            return answer_with(found, "data", request.path)

        try:
            for answer in COMPANY_SCROLL.pages(send):
                page = Page("intercom", "account", COMPANIES)
                pages = self.company_pages()
                build = partial(company_from_raw, pages=pages)
                for raw in answer["data"]:
                    convert(page, raw, build, context={"pages": pages})
                    named.add(str(raw.get("id")))
                yield page
        except AuthError as error:
            # No companies: no accounts from Intercom, and none removed (no closing page).
            self.missing.note("companies", COMPANIES_MISSING.format(status=error.status))
            return False
        return True


def capabilities(settings: IntercomSettings) -> list[Capability]:
    """Each optional read, probed with one cheap call: the workspace (`/me`, for links into
    the inbox), companies (accounts), contacts (a requester's company) and tags. A refusal
    (401/403) marks that feature missing; anything else is the probe failing."""
    api = IntercomConnector(settings).api
    probes = [
        ("inbox_urls", "GET", "/me", None, "links to conversations in the inbox", ME_MISSING),
        (
            "companies",
            "GET",
            "/companies",
            {"per_page": 1},
            "companies read as accounts",
            COMPANIES_MISSING,
        ),
        (
            "requester_companies",
            "POST",
            "/contacts/search",
            {
                "query": {"field": "id", "operator": "=", "value": "0"},
                "pagination": {"per_page": 1},
            },
            "a requester's company read from their contact",
            CONTACTS_MISSING,
        ),
        (
            "tags",
            "GET",
            "/tags",
            None,
            "the workspace's tags listed (conversations carry their own)",
            "tags refused ({status}): give the access token permission to read tags",
        ),
    ]
    found = []
    for name, method, path, payload, gives, refused in probes:
        options = {"json": payload} if method == "POST" else {"params": payload or {}}
        try:
            answer = api.request(method, path, **options).json()
        except ApiError as error:
            # A refusal, or (for `/me`) an API version without it: the feature is off.
            if not isinstance(error, AuthError) and (name, error.status) != ("inbox_urls", 404):
                raise
            found.append(Capability("intercom", name, False, refused.format(status=error.status)))
            continue
        if name == "inbox_urls" and not (answer.get("app") or {}).get("id_code"):
            found.append(Capability("intercom", name, False, "GET /me named no app id_code"))
            continue
        found.append(Capability("intercom", name, True, gives))
    return [*found, notes_capability(found)]


def notes_capability(found: list[Capability]) -> Capability:
    """Closing the loop adds an internal note as the admin `GET /me` names (a note needs its
    `admin_id`): without `/me`, no note can be written."""
    me = next(c for c in found if c.name == "inbox_urls")
    if me.available or "id_code" in me.detail:
        return Capability("intercom", "closing_notes", True, "internal notes as the token's admin")
    return Capability(
        "intercom",
        "closing_notes",
        False,
        "GET /me was refused, so the admin who writes notes is unknown: give the access "
        "token permission to read admins",
    )
