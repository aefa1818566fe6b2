"""HubSpot CRM: companies as accounts, deals through the search API, and their companies
through associations v4 (search results carry no associations).

Search pages by `after` but refuses to go past 10,000 results: before the cap, restart
from the newest `hs_lastmodifieddate` seen (GTE) and drop the ids already read at it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from connectors.base import CursorReader, DuplicatePageToken, Page, convert, epoch_ms, parse_time
from connectors.http import ApiClient
from models import Account, Deal, Settings

DEALS = "hubspot.deals"
SEARCH_CAP = 10_000
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
    "jira_issue_keys",
]
COMPANY_PROPERTIES = ["name", "domain", "hs_lastmodifieddate"]
KEY_SPLIT = re.compile(r"[\s,;]+")


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _amount(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"amount is not a number: {value!r}") from None


def deal_from_raw(raw: dict[str, Any], site: str, companies: dict[str, tuple[str, ...]]) -> Deal:
    props = raw["properties"]
    stage = props.get("dealstage") or ""
    closed = props.get("hs_is_closed")
    won = props.get("hs_is_closed_won")
    return Deal(
        source="hubspot",
        id=str(raw["id"]),
        url=f"{site}/crm/v3/objects/deals/{raw['id']}",
        name=props.get("dealname") or "",
        amount=_amount(props.get("amount")),
        stage=stage,
        # Custom pipelines name their stages freely; HubSpot's own flags say what is closed.
        is_closed=_flag(closed) if closed is not None else stage in {"closedwon", "closedlost"},
        is_won=_flag(won) if won is not None else stage == "closedwon",
        close_date=parse_time(props["closedate"], "closedate") if props.get("closedate") else None,
        account_ids=companies.get(str(raw["id"]), ()),
        issue_keys=tuple(k for k in KEY_SPLIT.split(props.get("jira_issue_keys") or "") if k),
        updated_at=parse_time(
            props.get("hs_lastmodifieddate") or raw["updatedAt"], "hs_lastmodifieddate"
        ),
    )


def _modified_at(raw: dict[str, Any]) -> datetime | None:
    """A search result's hs_lastmodifieddate, or None when it cannot be read."""
    try:
        return parse_time(raw["properties"]["hs_lastmodifieddate"])
    except (KeyError, TypeError, ValueError):
        return None


def company_from_raw(raw: dict[str, Any], site: str) -> Account:
    props = raw["properties"]
    return Account(
        source="hubspot",
        id=str(raw["id"]),
        url=f"{site}/crm/v3/objects/companies/{raw['id']}",
        name=props.get("name") or "",
        domains=(props["domain"],) if props.get("domain") else (),
        updated_at=parse_time(
            props.get("hs_lastmodifieddate") or raw["updatedAt"], "hs_lastmodifieddate"
        ),
    )


class HubSpotConnector:
    tool = "hubspot"

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        assert settings.hubspot_url and settings.hubspot_access_token
        self.settings = settings
        self.site = settings.hubspot_url
        token = settings.hubspot_access_token.get_secret_value()
        self.api = ApiClient(
            "hubspot",
            settings.hubspot_url,
            headers={"Authorization": f"Bearer {token}"},
            credential_settings="PMSYNC_HUBSPOT_ACCESS_TOKEN",
            secrets=[token],
            timeout=settings.http_timeout_s,
            max_attempts=settings.http_max_attempts,
            sleep=sleep,
        )

    def pull(self, cursor_for: CursorReader, full: bool = False) -> Iterator[Page]:
        yield from self.companies()
        yield from self.deals(None if full else cursor_for(DEALS))

    def companies(self) -> Iterator[Page]:
        """Companies are read in full each run, so deleted ones leave the store too."""
        params: dict[str, Any] = {"limit": 100, "properties": ",".join(COMPANY_PROPERTIES)}
        seen: set[str] = set()
        afters: set[str] = set()
        while True:
            body = self.api.get_json("/crm/v3/objects/companies", params=params)
            page = Page("hubspot", "account", "hubspot.companies")
            for raw in body.get("results", []):
                convert(page, raw, lambda r: company_from_raw(r, self.site))
                seen.add(str(raw.get("id")))
            yield page
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break  # no paging.next is HubSpot's end signal
            if after in afters:
                raise DuplicatePageToken(f"hubspot companies repeated after={after}")
            afters.add(after)
            params["after"] = after
        yield Page("hubspot", "account", "hubspot.companies", complete_ids=seen)

    def deals(self, saved: Any) -> Iterator[Page]:
        started = datetime.now(UTC)
        since = (
            parse_time(saved) - timedelta(minutes=self.settings.lookback_minutes) if saved else None
        )
        newest = parse_time(saved) if saved else None
        limit = min(self.settings.page_size, 200)
        after: str | None = None
        read_at_since: set[str] = set()  # ids read at the restart timestamp, to drop repeats
        read: dict[str, datetime | None] = {}  # id -> modified, of deals read this query
        while True:
            body = self._search_deals(since, after, limit)
            results = [r for r in body.get("results", []) if str(r.get("id")) not in read_at_since]
            companies = self._companies_of([str(r["id"]) for r in results if "id" in r])
            page = Page("hubspot", "deal", DEALS)
            for raw in results:
                deal = convert(
                    page, raw, partial(deal_from_raw, site=self.site, companies=companies)
                )
                if deal and (newest is None or deal.updated_at > newest):
                    newest = deal.updated_at
                read[str(raw.get("id"))] = _modified_at(raw)
            page.cursor = min(newest, started).isoformat() if newest else None
            yield page
            next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not next_after:
                return
            if int(next_after) + limit > SEARCH_CAP:
                if newest is None or newest == since:
                    raise RuntimeError(
                        "hubspot: more than 10,000 deals share one "
                        "hs_lastmodifieddate; cannot page past the search cap"
                    )
                since, after = newest, None
                # Deals sharing the newest time can span pages: drop all those already read.
                read_at_since = {i for i, modified in read.items() if modified == newest}
                read = {}
                continue
            if next_after == after:
                raise DuplicatePageToken(f"hubspot deals search repeated after={after}")
            after = next_after

    def _search_deals(self, since: datetime | None, after: str | None, limit: int) -> Any:
        body: dict[str, Any] = {
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": DEAL_PROPERTIES,
            "limit": limit,
        }
        if since is not None:
            body["filterGroups"] = [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": str(epoch_ms(since)),
                        }
                    ]
                }
            ]
        if after:
            body["after"] = after
        return self.api.request("POST", "/crm/v3/objects/deals/search", json=body).json()

    def _companies_of(self, deal_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not deal_ids:
            return {}
        body = self.api.request(
            "POST",
            "/crm/v4/associations/deals/companies/batch/read",
            json={"inputs": [{"id": i} for i in deal_ids]},
        ).json()
        return {
            str(item["from"]["id"]): tuple(str(to["toObjectId"]) for to in item.get("to", []))
            for item in body.get("results", [])
        }
