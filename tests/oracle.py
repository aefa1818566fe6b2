"""An independent oracle: the demand each issue should show, computed by the test from the
sandbox's own API answers and its planted truth, without any of pmsync's code (it shares
only an input: the default free-mail domains of pmsync's settings)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from connectors.settings import Settings

AUTH = ("demo@example.com", "sandbox")
ZENDESK_AUTH = ("demo@example.com/token", "sandbox")
FRESHDESK_AUTH = ("sandbox", "X")
HUBSPOT = {"Authorization": "Bearer sandbox"}
INTERCOM = {"Authorization": "Bearer sandbox", "Intercom-Version": "2.11"}
# An input, not a computation: the free-mail domains pmsync is configured with by default.
FREE_MAIL = set(Settings.model_fields["free_mail_domains"].default)
EVERY_TOOL = {"jira", "zendesk", "intercom", "freshdesk", "hubspot", "salesforce"}
EXPLICIT = {"cited_key", "zendesk_jira_link", "deal_field", "jira_remote_link"}
ACCOUNT_IDS = {
    "zendesk": "zendesk_organization_id",
    "intercom": "intercom_company_id",
    "freshdesk": "freshdesk_company_id",
    "hubspot": "hubspot_company_id",
    "salesforce": "salesforce_account_id",
}


class Ticket:
    """What the oracle needs of any support tool's ticket: who asked, for which company."""

    def __init__(
        self, source: str, record_id: Any, email: str | None, company: Any, importance: int = 1
    ) -> None:
        self.source, self.id = source, str(record_id)
        self.importance = importance  # from the tool's own priority, as the vendor names it
        self.email = (email or "").lower()
        self.company = None if company is None else str(company)


def zendesk_tickets(url: str) -> Iterator[Ticket]:
    params: dict[str, Any] = {"start_time": 0, "include": "users"}
    while True:
        body = requests.get(
            f"{url}/zendesk/api/v2/incremental/tickets/cursor.json",
            params=params,
            auth=ZENDESK_AUTH,
            timeout=30,
        ).json()
        users = {u["id"]: u for u in body.get("users", [])}
        for t in body["tickets"]:
            if t.get("status") != "deleted":
                email = users.get(t["requester_id"], {}).get("email")
                weight = {"urgent": 3, "high": 2}.get(t.get("priority"), 1)
                yield Ticket("zendesk", t["id"], email, t.get("organization_id"), weight)
        if body["end_of_stream"]:
            return
        params = {"cursor": body["after_cursor"], "include": "users"}


def intercom_tickets(url: str) -> Iterator[Ticket]:
    page: dict[str, Any] = {"per_page": 150}
    while True:
        query = {"query": {"field": "updated_at", "operator": ">", "value": 0}, "pagination": page}
        body = requests.post(
            f"{url}/intercom/conversations/search", json=query, headers=INTERCOM, timeout=30
        ).json()
        for c in body["conversations"]:
            author = c["source"]["author"]
            if author.get("type") not in ("user", "lead", "contact"):
                # A teammate or a bot started it: the customer is the conversation's contact.
                author = c["contacts"]["contacts"][0]
            contact = requests.get(
                f"{url}/intercom/contacts/{author['id']}", headers=INTERCOM, timeout=30
            ).json()
            companies = (contact.get("companies") or {}).get("data") or []
            email = author.get("email") or contact.get("email")
            company = companies[0]["id"] if companies else None
            weight = 2 if c.get("priority") == "priority" else 1
            yield Ticket("intercom", c["id"], email, company, weight)
        after = (body["pages"].get("next") or {}).get("starting_after")
        if not after:
            return
        page = {"per_page": 150, "starting_after": after}


def freshdesk_tickets(url: str) -> Iterator[Ticket]:
    next_url: str | None = f"{url}/freshdesk/api/v2/tickets"
    params: dict[str, Any] | None = {
        "updated_since": "1970-01-01T00:00:00Z",
        "per_page": 100,
        "include": "requester",
    }
    while next_url:
        response = requests.get(next_url, params=params, auth=FRESHDESK_AUTH, timeout=30)
        for t in response.json():
            yield Ticket(
                "freshdesk",
                t["id"],
                (t.get("requester") or {}).get("email"),
                t.get("company_id"),
                {4: 3, 3: 2}.get(t.get("priority"), 1),  # Freshdesk: 4 urgent, 3 high
            )
        next_url, params = response.links.get("next", {}).get("url"), None


class Deal:
    def __init__(
        self,
        source: str,
        record_id: str,
        amount: Any,
        stage: str,
        closed: str | None,
        companies: set[str],
    ) -> None:
        self.source, self.id = source, record_id
        self.amount = Decimal(str(amount or 0))
        self.stage = stage  # "won", "lost" or "open"
        self.closed = closed
        self.companies = companies


def hubspot_deals(url: str) -> Iterator[Deal]:
    params: dict[str, Any] = {
        "limit": 100,
        "associations": "companies",
        # A multi-currency portal's amounts are summed in its company currency.
        "properties": "amount,amount_in_home_currency,dealstage,closedate",
    }
    while True:
        body = requests.get(
            f"{url}/hubspot/crm/v3/objects/deals", params=params, headers=HUBSPOT, timeout=30
        ).json()
        for d in body["results"]:
            props = d["properties"]
            stage = {"closedwon": "won", "closedlost": "lost"}.get(props["dealstage"], "open")
            companies = d.get("associations", {}).get("companies", {}).get("results", [])
            yield Deal(
                "hubspot",
                str(d["id"]),
                props.get("amount_in_home_currency") or props.get("amount"),
                stage,
                props.get("closedate"),
                {str(c["id"]) for c in companies},
            )
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return
        params["after"] = after


def salesforce_query(url: str, soql: str) -> Iterator[dict[str, Any]]:
    """Every record a SOQL query returns, following nextRecordsUrl."""
    token = requests.post(
        f"{url}/salesforce/services/oauth2/token",
        timeout=30,
        data={
            "grant_type": "client_credentials",
            "client_id": "demo@example.com",
            "client_secret": "sandbox",
        },
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = requests.get(
        f"{token['instance_url']}/services/data/v60.0/query",
        params={"q": soql},
        headers=headers,
        timeout=30,
    ).json()
    while True:
        yield from body["records"]
        if body["done"]:
            return
        body = requests.get(
            f"{token['instance_url']}{body['nextRecordsUrl']}", headers=headers, timeout=30
        ).json()


def salesforce_deals(url: str) -> Iterator[Deal]:
    # A multi-currency org keeps each Amount in its deal's currency; convertCurrency gives
    # the corporate one (under the field's own name, without an alias).
    tenant = requests.get(f"{url}/_sandbox/health", timeout=30).json()["tenant"]
    amount = "convertCurrency(Amount)" if tenant.get("multi_currency") else "Amount"
    soql = (
        f"SELECT Id, {amount}, CloseDate, AccountId, IsClosed, IsWon FROM Opportunity "
        "ORDER BY SystemModstamp, Id"
    )
    for o in salesforce_query(url, soql):
        stage = "won" if o["IsWon"] else "lost" if o["IsClosed"] else "open"
        closed = f"{o['CloseDate']}T00:00:00Z" if o.get("CloseDate") else None
        yield Deal(
            "salesforce",
            o["Id"],
            o.get("Amount"),
            stage,
            closed,
            {o["AccountId"]} if o.get("AccountId") else set(),
        )


def crm_revenue(url: str) -> dict[tuple[str, str], Decimal]:
    """Each CRM account's revenue field as the CRM serves it: HubSpot's `annualrevenue`,
    Salesforce's `AnnualRevenue`."""
    revenue: dict[tuple[str, str], Decimal] = {}
    params: dict[str, Any] = {"limit": 100, "properties": "annualrevenue"}
    while True:
        body = requests.get(
            f"{url}/hubspot/crm/v3/objects/companies", params=params, headers=HUBSPOT, timeout=30
        ).json()
        for c in body["results"]:
            if c["properties"].get("annualrevenue") not in (None, ""):
                revenue[("hubspot", str(c["id"]))] = Decimal(c["properties"]["annualrevenue"])
        after = (body.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
        params["after"] = after
    for a in salesforce_query(url, "SELECT Id, AnnualRevenue FROM Account ORDER BY Id"):
        if a.get("AnnualRevenue") is not None:
            revenue[("salesforce", a["Id"])] = Decimal(str(a["AnnualRevenue"]))
    return revenue


def expected_demand(
    url: str, now: datetime | None = None, revenue_from: str = "deals"
) -> dict[str, dict[str, Any]]:
    """{issue_key: {requests, customers, revenue, open_pipeline, named_pipeline}} for every
    linked issue;
    revenue from closed-won deals, or (`revenue_from="crm_field"`) the customers' CRM
    accounts' revenue field."""
    now = now or datetime.now(UTC)
    truth = requests.get(f"{url}/_sandbox/truth", timeout=30).json()
    links = [link for link in truth["links"] if link["method"] in EXPLICIT]
    tenant = requests.get(f"{url}/_sandbox/health", timeout=30).json().get("tenant") or {}
    if tenant.get("zendesk_admin") is False:
        # An agent's token may not list Zendesk's Jira links (documented "Allowed for Admins").
        links = [link for link in links if link["method"] != "zendesk_jira_link"]
    # A CRM without the custom deal field for issue keys links deals only by their names.
    no_field = {
        crm
        for crm, flag in (
            ("salesforce", "salesforce_issue_keys_field"),
            ("hubspot", "hubspot_issue_keys_property"),
        )
        if tenant.get(flag) is False
    }
    links = [x for x in links if not (x["method"] == "deal_field" and x["source"] in no_field)]
    domain_of = {
        (tool, str(a[field])): a["domain"]
        for a in truth["accounts"]
        for tool, field in ACCOUNT_IDS.items()
        if a.get(field) is not None
    }
    tickets = {
        (t.source, t.id): t
        for reader in (zendesk_tickets, intercom_tickets, freshdesk_tickets)
        for t in reader(url)
    }
    deals = {
        (d.source, d.id): d for reader in (hubspot_deals, salesforce_deals) for d in reader(url)
    }

    def customer_of(ticket: Ticket) -> str:
        if ticket.company is not None and (ticket.source, ticket.company) in domain_of:
            return "domain:" + domain_of[(ticket.source, ticket.company)]
        domain = ticket.email.rpartition("@")[2]
        return f"domain:{domain}" if domain not in FREE_MAIL else f"person:{ticket.email}"

    def customers_of(deal: Deal) -> set[str]:
        return {
            "domain:" + domain_of[(deal.source, c)]
            for c in deal.companies
            if (deal.source, c) in domain_of
        }

    def is_revenue(deal: Deal) -> bool:
        if deal.stage != "won" or not deal.closed:
            return False
        closed = datetime.fromisoformat(deal.closed.replace("Z", "+00:00"))
        return closed >= now - timedelta(days=365)

    account_revenue = crm_revenue(url) if revenue_from == "crm_field" else {}
    feedback_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    deals_naming: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for link in links:
        pair = (link["source"], link["record_id"])
        if link["kind"] == "feedback" and pair in tickets:
            feedback_of[link["issue_key"]].add(pair)
        elif link["kind"] == "deal" and pair in deals:
            deals_naming[link["issue_key"]].add(pair)

    expected = {}
    for key in set(feedback_of) | set(deals_naming):
        customers = {customer_of(tickets[t]) for t in feedback_of[key]}
        own = {pair for pair, d in deals.items() if customers_of(d) & customers}
        revenue = {pair for pair in own if is_revenue(deals[pair])}
        pipeline = {pair for pair in own | deals_naming[key] if deals[pair].stage == "open"}
        if revenue_from == "crm_field":
            total = sum(
                (v for a, v in account_revenue.items() if "domain:" + domain_of[a] in customers),
                Decimal(0),
            )
        else:
            total = sum((deals[p].amount for p in revenue), Decimal(0))
        expected[key] = {
            "requests": len(feedback_of[key]),
            "weighted_requests": sum(tickets[t].importance for t in feedback_of[key]),
            "customers": len(customers),
            "revenue": total,
            "open_pipeline": sum((deals[p].amount for p in pipeline), Decimal(0)),
            # What the "Open Pipeline" field carries by default: the open deals naming it.
            "named_pipeline": sum(
                (deals[p].amount for p in deals_naming[key] if deals[p].stage == "open"),
                Decimal(0),
            ),
        }
    return expected
