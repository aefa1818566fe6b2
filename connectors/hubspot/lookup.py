"""HubSpot's single-record reads (an `archived` record counts as gone)."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.base import Capability
from connectors.hubspot import client as hubspot
from connectors.hubspot.client import HubSpotConnector
from connectors.hubspot.features import capabilities_of, company_currency
from connectors.hubspot.settings import HubSpotSettings
from connectors.lookup import path_id


def read_deal(connector: HubSpotConnector, deal_id: str, settings: HubSpotSettings) -> Any:
    path = f"/crm/v3/objects/deals/{path_id(deal_id)}"
    raw = connector.api.get_json(path, params={"properties": ",".join(hubspot.DEAL_PROPERTIES)})
    if raw.get("archived"):
        return None
    answer = connector.api.get_json(
        f"/crm/v4/objects/deals/{path_id(deal_id)}/associations/companies"
    )
    companies = {str(raw["id"]): tuple(str(r["toObjectId"]) for r in answer.get("results", []))}
    if connector.home_currency is None:  # the amount's currency, read once per connector
        connector.home_currency = company_currency(connector.api)
    build = partial(
        hubspot.deal_from_raw,
        site=connector.site,
        companies=companies,
        home_currency=connector.home_currency,
    )
    return raw, build


def read_company(connector: HubSpotConnector, company_id: str, settings: HubSpotSettings) -> Any:
    raw = connector.api.get_json(
        f"/crm/v3/objects/companies/{path_id(company_id)}",
        params={"properties": ",".join(hubspot.COMPANY_PROPERTIES)},
    )
    if raw.get("archived"):
        return None
    return raw, partial(hubspot.company_from_raw, site=connector.site)


def capabilities(settings: HubSpotSettings) -> list[Capability]:
    """Each HubSpot feature pmsync uses, for `pmsync check` (connectors.hubspot.features)."""
    return capabilities_of(HubSpotConnector(settings).api)
