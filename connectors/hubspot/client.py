"""HubSpot CRM: companies as accounts, deals through the search API, archived deals as
deletes, and the deals' companies through associations v4 (search results carry none).

Companies are a listing (connectors.base.listing_read): read in full from the object list
now and then, so that deleted ones leave the store, and in between only those the search
finds modified since the last read, walked exactly as deals are.

Search pages by `after` but refuses to go past 10,000 results per query, and any number of
records can share one `hs_lastmodifieddate`. So the position is a (timestamp, id) pair: every
record modified after `modified`, plus those modified exactly then whose id comes after
`after_id`. HubSpot allows one sort per query and does not document its order among equal
timestamps, so the pair is read as two queries, each sorted the way it filters:

- ties:  `hs_lastmodifieddate EQ T AND hs_object_id GT after_id`, sorted by hs_object_id;
- later: `hs_lastmodifieddate GT T` (GTE on a plain resume), sorted by hs_lastmodifieddate.

Reaching the cap in "later" at time T switches to "ties" at T, then "later" after T; reaching
it in "ties" restarts "ties" after the last id read. Every restart moves the pair strictly
forward, so even more than 10,000 records on one millisecond neither loop nor skip. HubSpot
compares ids as strings (`id + 1` would skip "10" after "1"): the id is only ever sent back
with GT, never computed, and sorted by the same property it is compared on.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import (
    Connector,
    CursorReader,
    ListingRead,
    MovedWhileRead,
    Page,
    SeenAtNewest,
    TimeAndId,
    Window,
    convert,
    epoch_ms,
    listing_read,
    parse_time,
)
from connectors.http import NONE, Shape
from connectors.hubspot.features import (
    ISSUE_KEYS_MISSING,
    ISSUE_KEYS_PROPERTY,
    company_currency,
    deal_property_names,
)

# The builders are looked up here (lookups, dead-letter rebuilds), so a patched one is used.
from connectors.hubspot.records import company_from_raw as company_from_raw
from connectors.hubspot.records import deal_from_raw as deal_from_raw
from connectors.hubspot.records import modified_at
from connectors.hubspot.settings import HUBSPOT, HubSpotSettings
from connectors.paging import CappedSearch, Request, Stream, next_token, param, reread_moved

DEALS = "hubspot.deals"
ARCHIVED_DEALS = "hubspot.deals.archived"
COMPANIES = "hubspot.companies"
SEARCH = "/crm/v3/objects/deals/search"
SEARCH_CAP = 10_000
# A list or search page as documented: `results`, and `paging.next.after` a string if any.
RESULTS_PAGE = Shape("results", (("paging.next.after", (str, NONE)),))
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_deal_stage_probability",
    "hs_lastmodifieddate",
    # A multi-currency portal's amount is in the deal's currency; sums use the home one.
    "deal_currency_code",
    "amount_in_home_currency",
    ISSUE_KEYS_PROPERTY,
]
COMPANY_PROPERTIES = ["name", "domain", "hs_lastmodifieddate"]
BY_MODIFIED = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
BY_ID = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OBJECT_LIST = next_token(
    "paging.next.after", param("after"), "hubspot {path} repeated after={token}"
)


class Position(TimeAndId):
    """Where a search resumes: every record modified after `at` (hs_lastmodifieddate), and
    those modified exactly then with an id after `after_id`."""

    keys = ("modified", "after_id")
    name = "hubspot deals cursor"


def later_query(
    since: datetime | None, inclusive: bool, until: datetime | None = None
) -> dict[str, Any]:
    """Records modified after `since` (or at it, when inclusive) and before `until`,
    oldest first."""
    query: dict[str, Any] = {"sorts": BY_MODIFIED}
    filters = []
    if since is not None:
        operator = "GTE" if inclusive else "GT"
        filters.append(_filter("hs_lastmodifieddate", operator, str(epoch_ms(since))))
    if until is not None:
        filters.append(_filter("hs_lastmodifieddate", "LT", str(epoch_ms(until))))
    if filters:
        query["filterGroups"] = [{"filters": filters}]
    return query


def ties_query(ties: Position) -> dict[str, Any]:
    """Records modified exactly at `ties.at` with an id after `ties.after_id`, by id."""
    filters = [_filter("hs_lastmodifieddate", "EQ", str(epoch_ms(ties.at)))]
    if ties.after_id is not None:
        filters.append(_filter("hs_object_id", "GT", ties.after_id))
    return {"filterGroups": [{"filters": filters}], "sorts": BY_ID}


def _filter(name: str, operator: str, value: str) -> dict[str, str]:
    return {"propertyName": name, "operator": operator, "value": value}


def _after(results: list[dict[str, Any]], ties: Position | None) -> Position | None:
    """The position after a page: its last id among ties, else its newest timestamp
    (inclusive: records sharing it may continue on the next page)."""
    if ties is not None:
        return Position(ties.at, str(results[-1].get("id"))) if results else None
    modified = [m for m in map(modified_at, results) if m is not None]
    return Position(modified[-1]) if modified else None


class HubSpotConnector(Connector[HubSpotSettings]):
    tool = "hubspot"
    part = HUBSPOT

    def configure(self, settings: HubSpotSettings) -> None:
        assert settings.hubspot_url and settings.hubspot_access_token
        self.site = settings.hubspot_url
        token = settings.hubspot_access_token.get_secret_value()
        self.api = self.api_client(self.site, token, headers={"Authorization": f"Bearer {token}"})
        # A revenue field (an ARR) is read with the companies only when revenue comes from it.
        self.revenue_property = settings.revenue_property()
        extra = [self.revenue_property] if self.revenue_property else []
        self.searched = {"deals": DEAL_PROPERTIES, "companies": COMPANY_PROPERTIES + extra}
        self.home_currency: str | None = None

    def read_portal(self) -> None:
        """Once per pull: which optional deal properties exist (ask only for those, so a
        feature the portal lacks is known to be off) and the company currency."""
        names = deal_property_names(self.api)
        if names is not None and ISSUE_KEYS_PROPERTY not in names:
            self.missing.note("deal_issue_keys", ISSUE_KEYS_MISSING)
            self.searched["deals"] = [p for p in DEAL_PROPERTIES if p != ISSUE_KEYS_PROPERTY]
        else:
            self.searched["deals"] = DEAL_PROPERTIES
        self.home_currency = company_currency(self.api)

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        self.read_portal()
        if listings:
            saved = cursor_for(COMPANIES)
            started = datetime.now(UTC)
            read = listing_read(saved, full, started, self.settings, self.revenue_property)
            yield from self.companies(read, saved)
        yield from self.deals(None if full else cursor_for(DEALS), since, until)
        if listings:
            yield from self.archived_deals()

    # -- lists: companies (in full) and archived deals ---------------------------------------

    def _list(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """A v3 object list: no `paging.next` is HubSpot's end signal, not a short page."""

        def send(request: Request) -> Any:
            return self.api.get_json(request.path, RESULTS_PAGE, params=request.params)

        for body in Stream(path, "results", OBJECT_LIST).pages(send, {"limit": 100, **params}):
            yield body["results"]

    def companies(self, read: ListingRead | None = None, saved: Any = None) -> Iterator[Page]:
        """Every company (the last page names them all, so deleted ones leave the store), or
        those the search finds modified since `read.since` (a first read is in full). The
        listing's cursor rides on its last page only."""
        read = read or ListingRead(None, datetime.now(UTC))
        if read.since is not None:
            yield from self._changed_companies(read, saved)
            return
        seen: set[str] = set()
        params = {"properties": ",".join(self.searched["companies"])}
        for results in self._list("/crm/v3/objects/companies", params):
            page = self._company_page(results)
            seen.update(str(raw.get("id")) for raw in results)
            yield page
        yield read.closing("hubspot", "account", COMPANIES, seen)

    def _changed_companies(self, read: ListingRead, saved: Any) -> Iterator[Page]:
        """Companies modified at or after `read.since`, oldest first, 200 a page: as few
        requests as the changes fill, walked as deals are.

        The search index lags: what changed just before this run may not be found yet, so
        the next read starts from the newest change this one saw (the object list, read in
        full, has no lag: it starts from its run's start). A company still moving after the
        re-reads moves that start back to where it began moving."""
        assert read.since is not None
        started = datetime.now(UTC)
        newest = parse_time(saved["since"], "since") if isinstance(saved, dict) else read.since

        def page(results: list[dict[str, Any]], position: Position | None) -> Page:
            nonlocal newest
            if position is not None and position.at > newest:
                newest = position.at
            return self._company_page(results)

        restart = yield from self._changed("companies", Position(read.since), None, page)
        since = min(newest, restart or newest, started)
        yield Page("hubspot", "account", COMPANIES, cursor=read.cursor(since))

    def _company_page(self, results: list[dict[str, Any]]) -> Page:
        page = Page("hubspot", "account", COMPANIES)
        for raw in results:
            convert(page, raw, lambda r: company_from_raw(r, self.site, self.revenue_property))
        return page

    def archived_deals(self) -> Iterator[Page]:
        """Archived (deleted) deals vanish from search; the list API still names them."""
        params = {"archived": "true", "properties": "hs_lastmodifieddate"}
        for results in self._list("/crm/v3/objects/deals", params):
            deleted = [str(raw["id"]) for raw in results if raw.get("id") is not None]
            yield Page("hubspot", "deal", ARCHIVED_DEALS, deleted_ids=deleted)

    # -- deals: the search, walked by a (timestamp, id) position -----------------------------

    def deals(
        self, saved: Any, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Deals from the saved position (else from `since`, else ever) until `until`; the
        ties of one timestamp are all before `until` or all not."""
        started = datetime.now(UTC)
        position = Position.read(saved)
        if position and self.settings.lookback_minutes:
            lookback = timedelta(minutes=self.settings.lookback_minutes)
            position = Position(position.at - lookback)
        if position is None and since is not None:
            position = Position(since)
        page = partial(self._deal_page, started=started)
        restart = yield from self._changed("deals", position, until, page)
        if restart is not None:  # still moving: the next run starts there
            yield Page("hubspot", "deal", DEALS, cursor=Position(restart).saved(started))

    def _changed(
        self,
        kind: str,
        position: Position | None,
        until: datetime | None,
        page: Callable[[list[dict[str, Any]], Position | None], Page],
    ) -> Generator[Page, None, datetime | None]:
        """Pages of `kind` from `position` on, each built by `page` from the results not
        read yet and the position after them. `after` is an offset: a record that changes
        or is archived while the search pages makes it skip another one, so the search is
        read again from where that began (REREADS times); what is returned is where the
        next run must start if it is still moving, else None."""
        moved = MovedWhileRead()
        yield from self._walk(kind, position, until, moved, page)
        return (
            yield from reread_moved(
                moved, lambda at, moved: self._walk(kind, Position(at), until, moved, page)
            )
        )

    def _walk(
        self,
        kind: str,
        position: Position | None,
        until: datetime | None,
        moved: MovedWhileRead,
        page: Callable[[list[dict[str, Any]], Position | None], Page],
    ) -> Iterator[Page]:
        """The records from `position` on, as the module's docstring walks them, minus
        those this walk already read at the same time (a query restarted at a timestamp
        returns them again)."""
        read = SeenAtNewest()
        # A resume inside one timestamp first finishes that timestamp's ties.
        ties = position if position and position.after_id is not None else None
        since = position.at if position else None
        inclusive = ties is None
        while True:
            capped = False
            query = ties_query(ties) if ties else later_query(since, inclusive, until)
            lower = (ties.at if ties else since) or EPOCH
            for results, at_cap in self._search(kind, query, moved, lower):
                position = _after(results, ties) or position
                for raw in results:
                    moved.saw(str(raw.get("id")), modified_at(raw))
                fresh = [r for r in results if not read.repeats(str(r.get("id")), modified_at(r))]
                for raw in fresh:
                    read.add(str(raw.get("id")), modified_at(raw))
                yield page(fresh, position)
                capped = at_cap
            if ties is None:
                if not capped:
                    return
                if position is None or position.after_id is not None:
                    raise RuntimeError(
                        f"hubspot: the {kind} search hit its cap without a readable "
                        "hs_lastmodifieddate to restart from"
                    )
                ties = position  # the newest timestamp read: its ties, by id
            elif capped:
                if position is None or position == ties:
                    raise RuntimeError(f"hubspot: the {kind} search hit its cap without progress")
                ties = position  # more ties than the cap: go on after the last id read
            else:
                since, inclusive, ties = ties.at, False, None

    def count(self, since: datetime | None, until: datetime | None) -> int | None:
        """Deals modified in [since, until): the search's `total`, from a one-deal page."""
        body = {**later_query(since, True, until), "properties": ["hs_object_id"], "limit": 1}
        total = self.api.request("POST", SEARCH, json=body).json().get("total")
        return total if isinstance(total, int) else None

    def _search(
        self,
        kind: str,
        query: dict[str, Any],
        moved: MovedWhileRead | None = None,
        lower: datetime = EPOCH,
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """One query's pages, each with whether the 10,000 cap stops the query after it
        (paging past the cap answers 400). No `paging.next` is the end signal. A `total`
        that drops between pages means a record left the results (archived) and shifted
        the offsets: `moved` hears of it, with the query's lower bound `lower`."""
        limit = min(self.settings.page_size, 200)
        body: dict[str, Any] = {**query, "properties": self.searched[kind], "limit": limit}
        paging = CappedSearch(
            limit,
            SEARCH_CAP,
            f"hubspot {kind} search repeated after={{token}}",
            shrank=partial(moved.shrank, lower) if moved else None,
        )

        def send(request: Request) -> Any:
            return self.api.request("POST", request.path, RESULTS_PAGE, json=request.body).json()

        first = Request(f"/crm/v3/objects/{kind}/search", body=body)
        for answer, capped in paging.pages(send, first):
            yield answer["results"], capped

    def _deal_page(
        self, results: list[dict[str, Any]], position: Position | None, started: datetime
    ) -> Page:
        """A page of deals with their companies, and the position after it as cursor."""
        companies = self._companies_of([str(r["id"]) for r in results if "id" in r])
        page = Page("hubspot", "deal", DEALS)
        build = partial(
            deal_from_raw, site=self.site, companies=companies, home_currency=self.home_currency
        )
        for raw in results:
            # What a replay needs to rebuild the deal as this pull would have.
            context = {
                "companies": list(companies.get(str(raw.get("id")), ())),
                "currency": self.home_currency,
            }
            convert(page, raw, build, context=context)
        page.cursor = position.saved(started) if position else None
        return page

    def _companies_of(self, deal_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not deal_ids:
            return {}
        body = self.api.request(
            "POST",
            "/crm/v4/associations/deals/companies/batch/read",
            "results",
            json={"inputs": [{"id": i} for i in deal_ids]},
        ).json()
        return {
            str(item["from"]["id"]): tuple(str(to["toObjectId"]) for to in item.get("to", []))
            for item in body.get("results", [])
        }
