"""HubSpot: the portal's optional properties, the company currency and capabilities."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import (
    HUBSPOT,
    body,
    calls_to,
    hubspot_deal,
    hubspot_page,
    script,
)
from hubspot_fixtures import SEARCH, connector

from connectors.hubspot.client import DEALS, HubSpotConnector
from connectors.settings import Settings
from models import Deal
from sandbox.world import generate

pytestmark = pytest.mark.mocked_site("hubspot_mock")


# -- the portal: optional properties, the company currency, capabilities ------------------------

PROPERTIES = f"{HUBSPOT}/crm/v3/properties/deals"
DETAILS = f"{HUBSPOT}/account-info/v3/details"


def portal(rsps, names: list[str] | None, currency: str | None = "USD") -> None:
    """The Properties API (None: refused, the app lacks crm.schemas.deals.read) and the
    account details of a portal."""
    if names is None:
        rsps.replace(
            "GET", PROPERTIES, json={"status": "error", "category": "MISSING_SCOPES"}, status=403
        )
    else:
        rsps.replace("GET", PROPERTIES, json={"results": [{"name": n} for n in names]})
    rsps.replace("GET", DETAILS, json={"portalId": 1, "companyCurrency": currency})


def pull_deals(rsps, deals: list[dict], **settings) -> tuple[HubSpotConnector, list]:
    script(rsps, "POST", SEARCH, [hubspot_page(deals)])
    hub = connector(**settings)
    pages = list(hub.pull(lambda stream: None, listings=False))
    return hub, [d for p in pages for d in p.records]


def test_a_portal_without_jira_issue_keys_switches_the_feature_off_and_deals_flow(
    rsps, companies_of
) -> None:
    """The property is not asked for, the feature is reported off once with what to
    create, and the deals still arrive."""
    portal(rsps, ["dealname", "amount", "dealstage"])
    hub, deals = pull_deals(rsps, [hubspot_deal(1)])

    assert [d.id for d in deals] == ["1"]
    assert "create the deal property jira_issue_keys" in hub.missing["deal_issue_keys"]
    (search,) = calls_to(rsps, "/deals/search")
    assert "jira_issue_keys" not in body(search)["properties"]
    assert "amount_in_home_currency" in body(search)["properties"]


@pytest.mark.parametrize(
    "names", [["jira_issue_keys", "dealname"], None], ids=["exists", "unknown"]
)
def test_the_custom_property_is_read_when_it_exists_or_cannot_be_checked(
    rsps, companies_of, names
) -> None:
    """Without crm.schemas.deals.read nothing is known to be missing: the property is still
    asked for (HubSpot leaves out what does not exist) and no feature is reported off."""
    portal(rsps, names)
    hub, deals = pull_deals(rsps, [hubspot_deal(1, jira_issue_keys="ANA-1")])

    assert deals[0].issue_keys == ("ANA-1",)
    assert not hub.missing
    (search,) = calls_to(rsps, "/deals/search")
    assert "jira_issue_keys" in body(search)["properties"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        pytest.param(
            {"amount": "1000", "deal_currency_code": "EUR", "amount_in_home_currency": "1080.00"},
            (Decimal("1080.00"), "USD"),
            id="multi-currency-uses-the-home-amount",
        ),
        pytest.param(
            {"amount": "1000", "deal_currency_code": None, "amount_in_home_currency": None},
            (Decimal("1000"), "USD"),
            id="single-currency-amount-is-home",
        ),
        pytest.param(
            {"amount": None, "deal_currency_code": "GBP", "amount_in_home_currency": None},
            (None, "USD"),
            id="no-amount",
        ),
    ],
)
def test_deals_are_summed_in_the_company_currency(rsps, companies_of, props, expected) -> None:
    portal(rsps, ["jira_issue_keys"], currency="USD")
    _, deals = pull_deals(rsps, [hubspot_deal(1, **props)])
    assert (deals[0].amount, deals[0].currency) == expected


def test_without_the_account_details_the_deals_own_currency_is_named(rsps, companies_of) -> None:
    """A single-currency portal whose currency could not be read: `amount` is in the deal's
    currency, so that one is named."""
    portal(rsps, ["jira_issue_keys"], currency=None)
    _, deals = pull_deals(rsps, [hubspot_deal(1, amount="70", deal_currency_code="GBP")])
    assert (deals[0].amount, deals[0].currency) == (Decimal("70"), "GBP")


@pytest.mark.parametrize(
    ("tenant", "missing"),
    [("full", set()), ("minimal", {"deal_issue_keys", "closing_notes"})],
)
def test_check_names_each_missing_hubspot_capability(tenant: str, missing: set[str]) -> None:
    """Against the sandbox over HTTP: a portal without the custom property and an app
    without the notes scopes show as missing features with what to change, never as a
    failed tool."""
    from connectors import registry
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, tenant=tenant) as server:
        found = registry.vendor("hubspot").capabilities(Settings.for_sandbox(server.url))
    assert {c.name for c in found if not c.available} == missing
    details = {c.name: c.detail for c in found}
    assert "USD" in details["company_currency"]
    if missing:
        assert "crm.objects.contacts.write" in details["closing_notes"]
        assert "jira_issue_keys" in details["deal_issue_keys"]


def test_a_minimal_portal_pulls_every_deal_without_the_custom_property() -> None:
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, tenant="minimal") as server:
        hub = HubSpotConnector(Settings.for_sandbox(server.url))
        pages = list(hub.pull(lambda stream: None))
    deals = [d for p in pages if p.stream == DEALS for d in p.records]
    assert len(deals) == sum(d.crm == "hubspot" for d in generate(7).deals)
    assert set(hub.missing) == {"deal_issue_keys"}
    assert all(d.issue_keys == () and d.currency == "USD" for d in deals)


def test_a_deal_without_its_stages_probability_takes_the_default_pipelines() -> None:
    """HubSpot's default pipeline weighs its stages (qualifiedtobuy 40%); a deal that
    comes without `hs_deal_stage_probability` is weighed so, and a custom pipeline's stage
    (which HubSpot's defaults do not name) is not weighed at all."""
    from connectors.hubspot.records import deal_from_raw

    def deal(stage: str, probability: str | None = None) -> Deal:
        props = {"dealname": "D", "amount": "100", "dealstage": stage}
        props |= {"hs_lastmodifieddate": "2026-01-01T00:00:00Z"}
        if probability is not None:
            props["hs_deal_stage_probability"] = probability
        raw = {"id": "1", "properties": props, "updatedAt": "2026-01-01T00:00:00Z"}
        return deal_from_raw(raw, "https://api.hubapi.com", {})

    assert deal("qualifiedtobuy").probability == 0.4
    assert deal("qualifiedtobuy", "0.7").probability == 0.7
    assert deal("our-own-stage").probability is None
