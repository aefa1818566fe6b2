"""Salesforce: opportunities as deals, accounts as accounts, deleted ones as deletes.

The story of a pull: trade the connected app's client credentials for a token and the org's
`instance_url` (once per run, and once more if Salesforce says the session expired), then
run SOQL queries and follow `nextRecordsUrl` until `done: true`. Opportunities are read in
(SystemModstamp, Id) order from a compound cursor, so any number of records sharing one
timestamp are neither skipped nor read forever; deleted ones come from `queryAll` with
`IsDeleted = true`. Accounts are a listing (connectors.base.listing_read): read in full now
and then, so that the store drops what the org no longer has, and in between only those
with a SystemModstamp since the last read, from `queryAll`, which also names the accounts
deleted since then. `403 REQUEST_LIMIT_EXCEEDED` is the org's rolling 24-hour API limit, not
a rate limit: the run stops with that message instead of retrying.

Before the first query the pull describes Opportunity and Account (connectors.salesforce.schema)
and selects only the fields the org has and lets the API user read: a missing optional field
(the custom Jira_Issue_Keys__c in most orgs, a field hidden by field-level security) switches
off that feature alone, noted in `self.missing`, and the deals still flow. In a
multi-currency org each amount is converted into the corporate currency.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, cast

from connectors.base import (
    Capability,
    Connector,
    CursorReader,
    ListingRead,
    Page,
    TimeAndId,
    Window,
    calendar_date,
    convert,
    domain_of,
    iso_z,
    listing_read,
    parse_time,
    split_keys,
)
from connectors.http import NONE, ApiClient, ApiError, AuthError, Shape
from connectors.paging import Request, soql_query
from connectors.salesforce.schema import (
    API,
    CONVERTED_AMOUNT,
    CONVERTED_REVENUE,
    ISSUE_KEYS_FIELD,
    OrgSchema,
    capabilities_of,
    read_schema,
)
from connectors.salesforce.settings import SALESFORCE, SalesforceSettings
from models import Account, Deal

log = logging.getLogger("pmsync.salesforce")

TOKEN = "/services/oauth2/token"
OPPORTUNITIES = "salesforce.opportunities"
ACCOUNTS = "salesforce.accounts"
BATCH_SIZE = 2000  # the most a query page holds (Sforce-Query-Options)
# A query page as documented: `records`, `done` true or false, `nextRecordsUrl` a string.
QUERY_PAGE = Shape("records", (("done", (bool,)), ("nextRecordsUrl", (str, NONE))))
QUERY_BATCHES = soql_query("salesforce query cannot move on from {token!r}")
RECORD_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")


class DailyLimitExceeded(ApiError):
    """The org has used its API requests for the rolling 24 hours: retrying only burns more."""


def _amount(value: Any) -> Decimal | None:
    """Amount is a JSON number; a text like "12.500,00" is refused (a dead letter), where
    Decimal's own InvalidOperation, no ValueError, would have stopped the whole pull."""
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"Amount is not a number: {value!r}") from None


def opportunity_from_raw(raw: dict[str, Any], site: str, corporate: str | None = None) -> Deal:
    """A deal; its amount in the corporate currency where the org converted it (`corporate`
    names that currency), else as the record has it, in its own CurrencyIsoCode if any."""
    probability = raw.get("Probability")
    if CONVERTED_AMOUNT in raw:
        amount, currency = raw.get(CONVERTED_AMOUNT), corporate
    else:
        amount, currency = raw.get("Amount"), raw.get("CurrencyIsoCode")
    return Deal(
        source="salesforce",
        id=raw["Id"],
        url=f"{site}/lightning/r/Opportunity/{raw['Id']}/view",
        name=raw.get("Name") or "",
        amount=_amount(amount),
        stage=raw.get("StageName") or "",
        is_closed=bool(raw["IsClosed"]),
        is_won=bool(raw["IsWon"]),
        # Stages are named per org; the opportunity's own probability is what it means.
        probability=float(probability) / 100 if probability is not None else None,
        close_date=calendar_date(raw["CloseDate"], "CloseDate") if raw.get("CloseDate") else None,
        account_ids=(raw["AccountId"],) if raw.get("AccountId") else (),
        # Jira keys are upper case; people type them in any case.
        issue_keys=tuple(k.upper() for k in split_keys(raw.get(ISSUE_KEYS_FIELD))),
        updated_at=parse_time(raw["SystemModstamp"], "SystemModstamp"),
        currency=str(currency) if currency else None,
    )


def account_from_raw(raw: dict[str, Any], site: str, revenue_field: str | None = None) -> Account:
    domain = domain_of(raw.get("Website"))
    if revenue_field and CONVERTED_REVENUE in raw:
        revenue_field = CONVERTED_REVENUE  # the corporate currency, in a multi-currency org
    return Account(
        source="salesforce",
        id=raw["Id"],
        url=f"{site}/lightning/r/Account/{raw['Id']}/view",
        name=raw.get("Name") or "",
        revenue=_amount(raw.get(revenue_field)) if revenue_field else None,
        domains=(domain,) if domain else (),
        updated_at=parse_time(raw["SystemModstamp"], "SystemModstamp"),
    )


class Position(TimeAndId):
    """Where the opportunities resume: after (SystemModstamp, Id) in SOQL's order, or at
    `at` inclusive when `after_id` is None."""

    keys = ("modstamp", "last_id")
    name = "salesforce cursor"

    @classmethod
    def checked_id(cls, value: Any) -> str | None:
        # The id goes into SOQL quoted: anything but a record id is refused.
        if value is not None and not RECORD_ID.match(value):
            raise ValueError(f"salesforce cursor: not a record id: {value!r}")
        return cast("str | None", value)

    def where(self) -> str:
        # SOQL datetime literals are unquoted; ids are quoted strings.
        stamp = iso_z(self.at)
        if self.after_id is None:
            return f"SystemModstamp >= {stamp}"
        return (
            f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{self.after_id}'))"
        )


def soql(fields: list[str], table: str, where: str = "", order: str = "") -> str:
    return " ".join(
        part
        for part in (
            f"SELECT {', '.join(fields)} FROM {table}",
            f"WHERE {where}" if where else "",
            f"ORDER BY {order}" if order else "",
        )
        if part
    )


class SalesforceConnector(Connector[SalesforceSettings]):
    tool = "salesforce"
    part = SALESFORCE

    def configure(self, settings: SalesforceSettings) -> None:
        assert (
            settings.salesforce_login_url
            and settings.salesforce_client_id
            and settings.salesforce_client_secret
        )
        self.client_id = settings.salesforce_client_id
        self.secret = settings.salesforce_client_secret.get_secret_value()
        self.login = self._client(settings.salesforce_login_url.rstrip("/"))
        self._api: ApiClient | None = None
        # A revenue field (an ARR) is read with the accounts only when revenue comes from it.
        self.revenue_field = settings.revenue_account_field()
        self._schema: OrgSchema | None = None

    def _client(self, base_url: str, token: str = "") -> ApiClient:
        """The login's client, or the API's once a token is issued (both share `calls`)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return self.api_client(base_url, self.secret, token, headers=headers)

    # -- OAuth client credentials ------------------------------------------------------------

    def authenticate(self) -> ApiClient:
        """A fresh token and the org's instance URL; the secret travels only in the body."""
        try:
            answer = self.login.request(
                "POST",
                TOKEN,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.secret,
                },
            ).json()
        except ApiError as error:
            # A wrong client id or secret answers 400 invalid_client: name the settings.
            if error.status == 400:
                where = self.part.credential_settings
                raise AuthError("salesforce", f"{error}; check {where}", 400) from None
            raise
        self._api = self._client(answer["instance_url"].rstrip("/"), answer["access_token"])
        return self._api

    @property
    def site(self) -> str:
        return self.api.base_url

    @property
    def api(self) -> ApiClient:
        return self._api or self.authenticate()

    def get(
        self, path: str, params: dict[str, Any] | None = None, records: str | Shape | None = None
    ) -> Any:
        """One REST call; an expired session is renewed once, the daily limit stops the run.
        `records`: the key the answer must hold its records under (a query's "records")."""
        for attempt in (1, 2):
            try:
                response = self.api.request(
                    "GET",
                    path,
                    records,
                    params=params,
                    headers={"Sforce-Query-Options": f"batchSize={BATCH_SIZE}"},
                )
            except AuthError as error:
                if error.status == 401 and "INVALID_SESSION_ID" in str(error) and attempt == 1:
                    self.authenticate()
                    continue
                if error.status == 403 and "REQUEST_LIMIT_EXCEEDED" in str(error):
                    raise DailyLimitExceeded(
                        "salesforce",
                        "REQUEST_LIMIT_EXCEEDED: the org has used its API requests for the "
                        "rolling 24 hours. pmsync does not retry this; sync again once usage "
                        "falls (Setup > System Overview) or the org's limit is raised.",
                        403,
                    ) from None
                raise
            log.debug("salesforce Sforce-Limit-Info: %s", response.headers.get("Sforce-Limit-Info"))
            return response.json()
        raise AssertionError("unreachable")

    def query(self, statement: str, endpoint: str = "query") -> Iterator[list[dict[str, Any]]]:
        """A SOQL query's batches: follow `nextRecordsUrl` until `done` is true."""

        def send(request: Request) -> Any:
            return self.get(request.path, params=request.params or None, records=QUERY_PAGE)

        first = Request(f"{API}/{endpoint}", {"q": statement})
        for answer in QUERY_BATCHES.pages(send, first):
            yield answer["records"]

    # -- the org's schema ---------------------------------------------------------------------

    def describe(self) -> OrgSchema:
        """Describe the objects (once per pull) and note the optional features they lack."""
        self._schema = read_schema(self.get, self._first_batch)
        self.schema.opportunity_columns(self.missing)
        self.schema.account_columns(self.revenue_field, self.missing)
        return self._schema

    @property
    def schema(self) -> OrgSchema:
        return self._schema or self.describe()

    def _first_batch(self, statement: str) -> list[dict[str, Any]]:
        return list(self.get(f"{API}/query", params={"q": statement}).get("records") or [])

    @property
    def opportunity_fields(self) -> list[str]:
        return self.schema.opportunity_columns(self.missing)

    @property
    def account_fields(self) -> list[str]:
        return self.schema.account_columns(self.revenue_field, self.missing)

    def build_opportunity(self, raw: dict[str, Any]) -> Deal:
        return opportunity_from_raw(raw, self.site, self.schema.corporate_currency)

    def probe(self) -> str:
        """The opportunity query a pull sends, limited to one record: what `check` runs."""
        statement = soql(self.opportunity_fields, "Opportunity") + " LIMIT 1"
        self.get(f"{API}/query", params={"q": statement})
        return statement

    def read_opportunity(self, record_id: str) -> dict[str, Any] | None:
        """One opportunity as a pull reads it (converted amount included), or None."""
        if not RECORD_ID.match(record_id):
            return None
        statement = soql(self.opportunity_fields, "Opportunity", where=f"Id = '{record_id}'")
        rows = self._first_batch(statement)
        return rows[0] if rows else None

    # -- streams -----------------------------------------------------------------------------

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        self.authenticate()  # once per run
        self.describe()  # once per run: the queries name only fields the org has
        saved = None if full else Position.read(cursor_for(OPPORTUNITIES))
        if listings:
            started = datetime.now(UTC)
            yield from self.accounts(
                listing_read(cursor_for(ACCOUNTS), full, started, self.settings, self.revenue_field)
            )
        yield from self.opportunities(saved, since, until)
        yield from self.deleted_opportunities(saved, since, until)

    def accounts(self, read: ListingRead | None = None) -> Iterator[Page]:
        """Every account (the last page names them all, so deleted ones leave the store),
        or those changed or deleted since `read.since` (a first read is in full). The
        listing's cursor rides on its last page only."""
        read = read or ListingRead(None, datetime.now(UTC))
        if read.since is not None:
            yield from self._changed_accounts(read)
            return
        seen: set[str] = set()
        for page, records in self._account_pages(soql(self.account_fields, "Account", order="Id")):
            seen.update(str(raw.get("Id")) for raw in records)
            yield page
        yield read.closing("salesforce", "account", ACCOUNTS, seen)

    def _changed_accounts(self, read: ListingRead) -> Iterator[Page]:
        """Accounts with a SystemModstamp at or after `read.since`, in (SystemModstamp, Id)
        order like the opportunities, 2,000 a batch. One `queryAll` serves both the changed
        and the deleted ones (deleting stamps SystemModstamp; `query` would hide them), so a
        quiet org costs one request. A query is no search index: what changed before this
        run started is in it, so the next read starts there."""
        assert read.since is not None
        started = datetime.now(UTC)
        statement = soql(
            [*self.account_fields, "IsDeleted"],
            "Account",
            where=Position(read.since).where(),
            order="SystemModstamp, Id",
        )
        for page, _records in self._account_pages(statement, "queryAll"):
            yield page
        yield Page("salesforce", "account", ACCOUNTS, cursor=read.cursor(started))

    def _account_pages(
        self, statement: str, endpoint: str = "query"
    ) -> Iterator[tuple[Page, list[dict[str, Any]]]]:
        build = partial(account_from_raw, site=self.site, revenue_field=self.revenue_field)
        for records in self.query(statement, endpoint):
            page = Page("salesforce", "account", ACCOUNTS)
            for raw in records:
                if raw.get("IsDeleted") is True:
                    page.deleted_ids.append(str(raw.get("Id")))
                else:
                    convert(page, raw, build, raw.get("Id"), {"site": self.site})
            yield page, records

    def opportunities(
        self, saved: Position | None, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Opportunities from the saved position (else `since`, else ever) until `until`."""
        started = datetime.now(UTC)
        start = saved
        if start and self.settings.lookback_minutes:
            start = Position(start.at - timedelta(minutes=self.settings.lookback_minutes))
        if start is None and since is not None:
            start = Position(since)
        where = [start.where()] if start else []
        if until is not None:
            where.append(f"SystemModstamp < {iso_z(until)}")
        statement = soql(
            self.opportunity_fields,
            "Opportunity",
            where=" AND ".join(where),
            order="SystemModstamp, Id",
        )
        position = saved
        # The instance URL comes from the token: a dead letter keeps it for a replay.
        context = {"site": self.site}
        build = self.build_opportunity
        for records in self.query(statement):
            page = Page("salesforce", "deal", OPPORTUNITIES)
            for raw in records:
                convert(page, raw, build, raw.get("Id"), context)
            last = _position_of(records[-1]) if records else None
            position = last or position
            page.cursor = position.saved(started) if position else None
            yield page

    def count(self, since: datetime | None, until: datetime | None) -> int | None:
        """Opportunities modified in [since, until): `totalSize` of an ids-only query's
        first batch (one call)."""
        where = [f"SystemModstamp >= {iso_z(since)}"] if since else []
        if until is not None:
            where.append(f"SystemModstamp < {iso_z(until)}")
        statement = soql(["Id"], "Opportunity", where=" AND ".join(where))
        total = self.get(f"{API}/query", params={"q": statement}).get("totalSize")
        return total if isinstance(total, int) else None

    def deleted_opportunities(
        self, saved: Position | None, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Opportunities deleted since the cursor: only queryAll sees the recycle bin."""
        where = "IsDeleted = true"
        if saved:
            since = saved.at - timedelta(minutes=self.settings.lookback_minutes)
        if since is not None:
            where += f" AND SystemModstamp >= {iso_z(since)}"
        if until is not None:
            where += f" AND SystemModstamp < {iso_z(until)}"
        for records in self.query(soql(["Id"], "Opportunity", where=where), "queryAll"):
            deleted = [raw["Id"] for raw in records if raw.get("Id")]
            yield Page("salesforce", "deal", OPPORTUNITIES + ".deleted", deleted_ids=deleted)


def _position_of(raw: dict[str, Any]) -> Position | None:
    """The (SystemModstamp, Id) of the last record of a page, if it can be read."""
    try:
        return Position(parse_time(raw["SystemModstamp"]), str(raw["Id"]))
    except (KeyError, TypeError, ValueError):
        return None


def capabilities(settings: SalesforceSettings) -> list[Capability]:
    """The org's optional features for `pmsync check`: the custom issue-keys field, each
    optional opportunity and account field the API user can read, and the currencies. A
    describe the org refuses means opportunities cannot be read at all."""
    connector = SalesforceConnector(settings)
    connector.authenticate()
    try:
        schema = connector.describe()
    except ApiError as error:
        if error.status not in (403, 404):
            raise
        return [
            Capability(
                "salesforce",
                "opportunity_read",
                False,
                f"the API user cannot describe Opportunity or Account ({error}): give its "
                "profile or a permission set Read on both objects",
            )
        ]
    found = [Capability("salesforce", "opportunity_read", True, "Opportunity and Account readable")]
    return [*found, *capabilities_of(schema, connector.revenue_field), notes_capability(connector)]


def notes_capability(connector: SalesforceConnector) -> Capability:
    """Closing the loop creates a Task on each opportunity: the API user's profile must let
    it create Tasks (`createable` in the Task describe)."""
    try:
        task = connector.get(f"{API}/sobjects/Task/describe")
    except ApiError as error:
        if error.status not in (403, 404):
            raise
        task = {"createable": False}
    if task.get("createable") is True:
        return Capability("salesforce", "closing_notes", True, "Tasks on opportunities")
    return Capability(
        "salesforce",
        "closing_notes",
        False,
        "the API user may not create Tasks: give its profile or a permission set Create on "
        "Task (Activities)",
    )
