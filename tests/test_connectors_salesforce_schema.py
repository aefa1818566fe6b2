"""Salesforce: the org's schema (describe): only fields it has are selected, the rest noted
missing, amounts converted in a multi-currency org."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import (
    record_ids,
    sandbox_settings,
    script,
    sf_account,
    sf_id,
    sf_opportunity,
    soql_page,
)
from salesforce_fixtures import (
    DESCRIBES,
    OPP,
    QUERIES,
    SECRET,
    connector,
    opportunities,
    query_calls,
    soql_of,
)

import connectors.salesforce.client

pytestmark = pytest.mark.usefixtures("salesforce_run_start")


# -- the org's schema: optional fields degrade, currencies convert ---------------------------


def describe_calls(rsps) -> list:
    return [c for c in rsps.calls if DESCRIBES.match(c.request.url)]


def test_an_org_without_the_issue_keys_field_reads_its_deals_without_it(rsps, tokens, org):
    """Most orgs have no Jira_Issue_Keys__c: selecting it would be 400 INVALID_FIELD for the
    whole query. The pull leaves it out, says once what to create, and the deals flow."""
    del org["Opportunity"]["Jira_Issue_Keys__c"]
    script(
        rsps,
        "GET",
        QUERIES,
        [soql_page([sf_account(1)]), soql_page([sf_opportunity(1)]), soql_page([])],
    )
    sf = connector()

    pages = list(sf.pull(lambda stream: None))

    opportunity_query = soql_of(query_calls(rsps)[1])
    assert "Jira_Issue_Keys__c" not in opportunity_query
    assert opportunity_query.startswith("SELECT Id, Name, Amount, StageName")
    assert record_ids(pages) == [sf_id("001", 1), OPP[1]]
    assert list(sf.missing) == ["opportunity_issue_keys"]
    assert (
        "create the custom field Jira_Issue_Keys__c on Opportunity"
        in sf.missing["opportunity_issue_keys"]
    )
    assert len(describe_calls(rsps)) == 2  # Opportunity and Account, once per pull


def test_fields_the_api_user_cannot_read_are_left_out_and_named(rsps, tokens, org):
    """Field-level security hides fields from describe as if they did not exist: a hidden
    Amount or revenue field is left out of the queries and noted with where to grant it;
    the records still come, without those values."""
    del org["Opportunity"]["Amount"]
    del org["Account"]["AnnualRevenue"]
    script(
        rsps,
        "GET",
        QUERIES,
        [
            soql_page([sf_account(1)]),
            soql_page([{k: v for k, v in sf_opportunity(1).items() if k != "Amount"}]),
            soql_page([]),
        ],
    )
    sf = connector(revenue_from="crm_field")

    pages = list(sf.pull(lambda stream: None))

    account_query, opportunity_query = (soql_of(c) for c in query_calls(rsps)[:2])
    assert "AnnualRevenue" not in account_query and "Amount" not in opportunity_query
    deal = next(r for page in pages for r in page.records if r.id == OPP[1])
    assert deal.amount is None and deal.stage == "Prospecting"
    assert set(sf.missing) == {"opportunity_amount", "account_revenue"}
    assert "Field-Level" in sf.missing["account_revenue"]
    assert "PMSYNC_SALESFORCE_REVENUE_FIELD" in sf.missing["account_revenue"]


def test_a_multi_currency_org_converts_amounts_into_the_corporate_currency(rsps, tokens, org):
    """With CurrencyIsoCode on Opportunity, Amount is in each deal's own currency:
    convertCurrency(Amount), under an alias so the own amount stays beside it, is what
    is summed, and the deal names the corporate currency read from CurrencyType."""
    org["Opportunity"]["CurrencyIsoCode"] = "picklist"
    org["Account"]["CurrencyIsoCode"] = "picklist"
    euro = sf_opportunity(1, Amount=8000.0, CurrencyIsoCode="EUR", ConvertedAmount=10000.0)
    script(
        rsps,
        "GET",
        QUERIES,
        [
            soql_page([{"attributes": {"type": "CurrencyType"}, "IsoCode": "USD"}]),
            soql_page(
                [sf_opportunity(2, CurrencyIsoCode="USD", ConvertedAmount=15000.0)],
                "/services/data/v60.0/query/01g-2000",
            ),
            soql_page([euro]),
        ],
    )
    sf = connector()
    sf.authenticate()

    deals = [r for page in sf.opportunities(None) for r in page.records]

    currency_query, first = (soql_of(c) for c in query_calls(rsps)[:2])
    assert currency_query == "SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true"
    assert "Amount" in first.split(", ")
    assert "CurrencyIsoCode, convertCurrency(Amount) ConvertedAmount FROM" in first
    assert [(d.amount, d.currency) for d in deals] == [
        (Decimal("15000.0"), "USD"),
        (Decimal("10000.0"), "USD"),
    ]
    assert sf.missing == {}


def test_a_single_currency_org_is_read_as_before(rsps, tokens):
    script(rsps, "GET", QUERIES, [soql_page([sf_opportunity(1)])])

    (page,) = opportunities(connector())

    assert "convertCurrency" not in soql_of(query_calls(rsps)[0])
    assert [(d.amount, d.currency) for d in page.records] == [(Decimal("15000.0"), None)]


def test_capabilities_name_each_missing_feature_and_what_to_change(rsps, tokens, org):
    del org["Opportunity"]["Jira_Issue_Keys__c"]
    del org["Account"]["Website"]

    found = {
        c.name: c
        for c in connectors.salesforce.client.capabilities(
            sandbox_settings(salesforce_client_secret=SECRET)
        )
    }

    assert found["opportunity_read"].available
    assert not found["opportunity_issue_keys"].available
    assert "Jira_Issue_Keys__c" in found["opportunity_issue_keys"].detail
    assert not found["account_domains"].available
    assert found["opportunity_amount"].available and found["currency_conversion"].available
    assert "single-currency" in found["currency_conversion"].detail


def test_capabilities_report_an_unreadable_object_as_missing(rsps, tokens):
    rsps.replace(
        "GET",
        DESCRIBES,
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )

    found = connectors.salesforce.client.capabilities(
        sandbox_settings(salesforce_client_secret=SECRET)
    )

    assert [(c.name, c.available) for c in found] == [("opportunity_read", False)]
    assert "Read on both objects" in found[0].detail
