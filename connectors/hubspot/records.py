"""How a HubSpot deal or company answer becomes a record. Every property arrives as a string
(or null, or "" once a person cleared it); amounts are read in the portal's company
currency (connectors.hubspot.features)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import parse_time, split_keys
from connectors.hubspot.features import home_amount_source
from models import Account, Deal


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _amount(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"amount is not a number: {value!r}") from None


def deal_from_raw(
    raw: dict[str, Any],
    site: str,
    companies: dict[str, tuple[str, ...]],
    home_currency: str | None = None,
) -> Deal:
    """A deal, its amount in the portal's company currency (`home_currency`, when known)."""
    props = raw["properties"]
    amount_property = home_amount_source(props)
    currency = home_currency or (
        props.get("deal_currency_code") if amount_property == "amount" else None
    )
    stage = props.get("dealstage") or ""
    closed = props.get("hs_is_closed")
    won = props.get("hs_is_closed_won")
    return Deal(
        source="hubspot",
        id=str(raw["id"]),
        url=f"{site}/crm/v3/objects/deals/{raw['id']}",
        name=props.get("dealname") or "",
        amount=_home_amount(props, amount_property),
        currency=currency or None,
        stage=stage,
        # Custom pipelines name their stages freely; HubSpot's own flags say what is closed.
        is_closed=_flag(closed) if closed is not None else stage in {"closedwon", "closedlost"},
        is_won=_flag(won) if won is not None else stage == "closedwon",
        close_date=parse_time(props["closedate"], "closedate") if props.get("closedate") else None,
        account_ids=companies.get(str(raw["id"]), ()),
        issue_keys=split_keys(props.get("jira_issue_keys")),
        probability=_probability(props.get("hs_deal_stage_probability"), stage),
        updated_at=parse_time(
            props.get("hs_lastmodifieddate") or raw["updatedAt"], "hs_lastmodifieddate"
        ),
    )


def _home_amount(props: dict[str, Any], source: str) -> Decimal | None:
    """The amount in the company currency; the deal's own `amount` is read too, so a deal
    whose amount is not a number is refused whichever of the two is summed."""
    own = _amount(props.get("amount"))
    return own if source == "amount" else _amount(props.get(source))


# HubSpot's default pipeline probabilities, for deals that come without their stage's.
STAGE_PROBABILITY = {
    "appointmentscheduled": 0.2,
    "qualifiedtobuy": 0.4,
    "presentationscheduled": 0.6,
    "decisionmakerboughtin": 0.8,
    "contractsent": 0.9,
    "closedwon": 1.0,
    "closedlost": 0.0,
}


def _probability(value: Any, stage: str | None) -> float | None:
    """HubSpot sends the stage's probability as a string between 0 and 1; without one, the
    default pipeline's for its stage (None for a stage of a custom pipeline)."""
    if value in (None, ""):
        return STAGE_PROBABILITY.get(stage or "")
    try:
        return min(1.0, max(0.0, float(value)))
    except ValueError:
        raise ValueError(f"hs_deal_stage_probability is not a number: {value!r}") from None


def modified_at(raw: dict[str, Any]) -> datetime | None:
    """A search result's hs_lastmodifieddate, or None when it cannot be read."""
    try:
        return parse_time(raw["properties"]["hs_lastmodifieddate"])
    except (KeyError, TypeError, ValueError):
        return None


def company_from_raw(
    raw: dict[str, Any], site: str, revenue_property: str | None = None
) -> Account:
    props = raw["properties"]
    return Account(
        source="hubspot",
        id=str(raw["id"]),
        url=f"{site}/crm/v3/objects/companies/{raw['id']}",
        name=props.get("name") or "",
        revenue=_amount(props.get(revenue_property)) if revenue_property else None,
        domains=(props["domain"],) if props.get("domain") else (),
        updated_at=parse_time(
            props.get("hs_lastmodifieddate") or raw["updatedAt"], "hs_lastmodifieddate"
        ),
    )
