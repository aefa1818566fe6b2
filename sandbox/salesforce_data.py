"""Salesforce's records (Account, Opportunity, Task), its OAuth sessions and query cursors,
built from the world."""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.ids import salesforce_id
from sandbox.timefmt import jira_time
from sandbox.world import World

# object -> field -> SOQL type; the order is the order of a record's fields.
SCHEMA: dict[str, dict[str, str]] = {
    "Account": {
        "Id": "id",
        "Name": "string",
        "Website": "string",
        "AnnualRevenue": "currency",
        "Industry": "string",
        "Type": "string",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "Amount": "currency",
        "StageName": "string",
        "CloseDate": "date",
        "AccountId": "id",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "Probability": "percent",
        "Type": "string",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "Jira_Issue_Keys__c": "string",
    },
    "Task": {
        "Id": "id",
        "Subject": "string",
        "Description": "string",
        "WhatId": "id",
        "Status": "string",
        "Priority": "string",
        "ActivityDate": "date",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
}
# HubSpot's stage names (the world's vocabulary) as a standard Salesforce sales process.
STAGES = {
    "appointmentscheduled": ("Prospecting", 10.0),
    "qualifiedtobuy": ("Qualification", 10.0),
    "presentationscheduled": ("Value Proposition", 50.0),
    "decisionmakerboughtin": ("Proposal/Price Quote", 75.0),
    "contractsent": ("Negotiation/Review", 90.0),
    "closedwon": ("Closed Won", 100.0),
    "closedlost": ("Closed Lost", 0.0),
}
ORG_ID = salesforce_id("Org", 7)
USER_ID = salesforce_id("User", 7)
OPEN_CURSORS = 10  # Salesforce keeps 10 open query cursors per user; older ones expire


def sf_time(when: datetime) -> str:
    return jira_time(when)  # Salesforce's JSON dates: 2024-05-01T10:20:30.000+0000


@dataclass
class QueryCursor:
    sobject: str
    columns: list[Any]  # sandbox.soql.Column: the answer's keys and the fields behind them
    ids: list[str]
    batch: int


@dataclass
class SalesforceStore:
    records: dict[str, dict[str, dict[str, Any]]]  # object -> Id -> record
    sessions: dict[str, float] = field(default_factory=dict)  # access token -> issued (unix s)
    cursors: "OrderedDict[str, QueryCursor]" = field(default_factory=OrderedDict)
    api_usage: int = 0
    next_number: int = 900_000
    bulk_jobs: dict[str, Any] = field(default_factory=dict)  # Bulk API 2.0 query jobs by id

    def new_id(self, kind: str) -> str:
        self.next_number += 1
        return salesforce_id(kind, self.next_number)

    def open_cursor(self, cursor: QueryCursor) -> str:
        locator = self.new_id("QueryLocator")
        self.cursors[locator] = cursor
        while len(self.cursors) > OPEN_CURSORS:
            self.cursors.popitem(last=False)
        return locator


CURRENCY_CYCLE = ("USD", "EUR", "GBP", "JPY")  # a multi-currency org's deals, in turn


def build(world: World) -> SalesforceStore:
    """Every field any tenant profile has; keys starting with `_` are never served as such
    (sandbox.salesforce_meta.view applies them for the tenants that show them)."""
    store = SalesforceStore({"Account": {}, "Opportunity": {}, "Task": {}})
    with_deals = {deal.account for deal in world.deals}
    for index, account in enumerate(world.accounts):
        aid = account.salesforce_account_id
        if aid is None:
            continue
        store.records["Account"][aid] = {
            "Id": aid,
            "Name": account.name,
            "Website": f"https://www.{account.domains[0]}",
            "AnnualRevenue": float(account.annual_revenue),
            "Industry": account.industry.replace("_", " ").title(),
            "Type": "Customer",
            "CreatedDate": sf_time(account.created),
            "LastModifiedDate": sf_time(account.updated),
            "SystemModstamp": sf_time(account.updated),
            "IsDeleted": False,
            # The messy tenant leaves Website and AnnualRevenue empty on accounts that have
            # no deals, so what is counted stays the same.
            "_messy": index not in with_deals,
        }
    for number, deal in enumerate(d for d in world.deals if d.crm == "salesforce"):
        stage, probability = STAGES[deal.stage]
        store.records["Opportunity"][deal.id] = {
            "Id": deal.id,
            "Name": deal.name,
            "Amount": float(deal.amount),
            "StageName": stage,
            "CloseDate": deal.close_date.date().isoformat(),
            "AccountId": world.accounts[deal.account].salesforce_account_id,
            "IsClosed": deal.stage in ("closedwon", "closedlost"),
            "IsWon": deal.stage == "closedwon",
            "Probability": probability,
            "Type": "New Customer"
            if "New business" in deal.name
            else "Existing Customer - Upgrade",
            "CreatedDate": sf_time(deal.created),
            "LastModifiedDate": sf_time(deal.updated),
            "SystemModstamp": sf_time(deal.updated),
            "IsDeleted": False,
            # A text field the sales team fills in, separated like a multi-select picklist.
            "Jira_Issue_Keys__c": ";".join(deal.issue_keys) or None,
            "_currency": CURRENCY_CYCLE[number % len(CURRENCY_CYCLE)],
            # The messy tenant: a non-ASCII name, and no Amount when the deal was lost.
            "_messy": number % 3 == 0,
        }
    return store
