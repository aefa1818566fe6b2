"""An independent oracle: the demand each issue should show, computed by the test from the
sandbox's own API answers and its planted truth, without any of pmsync's code."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

AUTH = ("demo@example.com", "sandbox")
ZENDESK_AUTH = ("demo@example.com/token", "sandbox")
HUBSPOT = {"Authorization": "Bearer sandbox"}
FREE_MAIL = {
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "mail.com",
}
EXPLICIT = {"cited_key", "zendesk_jira_link", "deal_field"}


def _all_tickets(url: str) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    tickets: list[dict[str, Any]] = []
    users: dict[int, dict[str, Any]] = {}
    params: dict[str, Any] = {"start_time": 0, "include": "users"}
    while True:
        body = requests.get(
            f"{url}/zendesk/api/v2/incremental/tickets/cursor.json",
            params=params,
            auth=ZENDESK_AUTH,
            timeout=30,
        ).json()
        tickets += body["tickets"]
        users.update({u["id"]: u for u in body.get("users", [])})
        if body["end_of_stream"]:
            return tickets, users
        params = {"cursor": body["after_cursor"], "include": "users"}


def _all_deals(url: str) -> list[dict[str, Any]]:
    deals: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "limit": 100,
        "associations": "companies",
        "properties": "amount,dealstage,closedate,hs_is_closed,hs_is_closed_won",
    }
    while True:
        body = requests.get(
            f"{url}/hubspot/crm/v3/objects/deals", params=params, headers=HUBSPOT, timeout=30
        ).json()
        deals += body["results"]
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return deals
        params["after"] = after


def expected_demand(url: str, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """{issue_key: {requests, customers, revenue, open_pipeline}} for every linked issue."""
    now = now or datetime.now(UTC)
    truth = requests.get(f"{url}/_sandbox/truth", timeout=30).json()
    links = [link for link in truth["links"] if link["method"] in EXPLICIT]
    org_domain = {
        str(a["zendesk_organization_id"]): a["domain"]
        for a in truth["accounts"]
        if a.get("zendesk_organization_id") is not None
    }
    company_domain = {
        str(a["hubspot_company_id"]): a["domain"]
        for a in truth["accounts"]
        if a.get("hubspot_company_id") is not None
    }
    tickets, users = _all_tickets(url)
    by_ticket = {str(t["id"]): t for t in tickets}
    deals = {str(d["id"]): d for d in _all_deals(url)}

    def customer_of(ticket: dict[str, Any]) -> str:
        if ticket.get("organization_id") is not None:
            return "domain:" + org_domain[str(ticket["organization_id"])]
        email = users[ticket["requester_id"]]["email"].lower()
        domain = email.rpartition("@")[2]
        return f"domain:{domain}" if domain not in FREE_MAIL else f"person:{email}"

    def customers_of(deal: dict[str, Any]) -> set[str]:
        companies = deal.get("associations", {}).get("companies", {}).get("results", [])
        return {
            "domain:" + company_domain[str(c["id"])]
            for c in companies
            if str(c["id"]) in company_domain
        }

    def amount(deal: dict[str, Any]) -> Decimal:
        return Decimal(deal["properties"].get("amount") or 0)

    def is_open(deal: dict[str, Any]) -> bool:
        return deal["properties"]["dealstage"] not in {"closedwon", "closedlost"}

    def is_revenue(deal: dict[str, Any]) -> bool:
        props = deal["properties"]
        if props["dealstage"] != "closedwon" or not props.get("closedate"):
            return False
        closed = datetime.fromisoformat(props["closedate"].replace("Z", "+00:00"))
        return closed >= now - timedelta(days=365)

    feedback_of: dict[str, set[str]] = defaultdict(set)
    deals_naming: dict[str, set[str]] = defaultdict(set)
    for link in links:
        if link["kind"] == "feedback" and link["record_id"] in by_ticket:
            feedback_of[link["issue_key"]].add(link["record_id"])
        elif link["kind"] == "deal" and link["record_id"] in deals:
            deals_naming[link["issue_key"]].add(link["record_id"])

    expected = {}
    for key in set(feedback_of) | set(deals_naming):
        customers = {customer_of(by_ticket[t]) for t in feedback_of[key]}
        own = {i for i, d in deals.items() if customers_of(d) & customers}
        revenue = {i for i in own if is_revenue(deals[i])}
        pipeline = {i for i in own | deals_naming[key] if is_open(deals[i])}
        expected[key] = {
            "requests": len(feedback_of[key]),
            "customers": len(customers),
            "revenue": sum((amount(deals[i]) for i in revenue), Decimal(0)),
            "open_pipeline": sum((amount(deals[i]) for i in pipeline), Decimal(0)),
        }
    return expected
