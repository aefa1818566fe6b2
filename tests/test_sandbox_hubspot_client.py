"""HubSpot's official Python client (`hubspot-api-client`), unchanged but for its host,
reads every stream pmsync uses from the sandbox: deals (list and search), companies, v4
associations, the Properties API and the account details. A client generated from
HubSpot's OpenAPI specs deserialises each answer into its models, so a key or type the
sandbox gets wrong fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.deals import Filter, FilterGroup, PublicObjectSearchRequest

from sandbox.server import start_sandbox
from sandbox.world import generate

WORLD = generate(7)
DEALS = sum(d.crm == "hubspot" for d in WORLD.deals)
COMPANIES = sum(a.crm == "hubspot" for a in WORLD.accounts)


@pytest.fixture(scope="module")
def client() -> Iterator[HubSpot]:
    with start_sandbox(seed=7, tenant="multi-currency") as server:
        yield HubSpot(access_token="sandbox", host=f"{server.url}/hubspot")


def _all_pages(read: Any, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    after = None
    while True:
        page = read(after=after, **kwargs) if after else read(**kwargs)
        found += page.results
        if page.paging is None or page.paging.next is None:
            return found
        after = page.paging.next.after


def test_the_client_lists_every_deal_with_its_currency_and_companies(client: HubSpot) -> None:
    deals = _all_pages(
        client.crm.deals.basic_api.get_page,
        limit=50,
        properties=["dealname", "amount", "deal_currency_code", "amount_in_home_currency"],
        associations=["companies"],
    )
    assert len(deals) == DEALS
    assert {d.properties["deal_currency_code"] for d in deals} == {"USD", "EUR", "GBP", "JPY"}
    assert all(d.associations["companies"].results for d in deals)
    assert all(d.created_at.tzinfo is not None for d in deals)


def test_the_client_searches_deals_modified_since_a_time(client: HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[Filter(property_name="hs_lastmodifieddate", operator="GTE", value="0")]
            )
        ],
        sorts=["hs_lastmodifieddate"],
        properties=["dealname", "hs_lastmodifieddate", "amount_in_home_currency"],
        limit=100,
    )
    found = client.crm.deals.search_api.do_search(public_object_search_request=request)
    assert found.total == DEALS and len(found.results) == min(DEALS, 100)
    stamps = [d.properties["hs_lastmodifieddate"] for d in found.results]
    assert stamps == sorted(stamps)


def test_the_client_lists_companies_and_reads_their_deals_associations(client: HubSpot) -> None:
    companies = _all_pages(
        client.crm.companies.basic_api.get_page, limit=100, properties=["name", "domain"]
    )
    assert len(companies) == COMPANIES
    deals = client.crm.deals.basic_api.get_page(limit=5).results
    batch = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=d.id) for d in deals]
    )
    answer = client.crm.associations.v4.batch_api.get_page(
        from_object_type="deals",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=batch,
    )
    assert {r._from.id for r in answer.results} == {d.id for d in deals}
    known = {c.id for c in companies}
    assert all(str(to.to_object_id) in known for r in answer.results for to in r.to)
    assert all(t.type_id == 5 for r in answer.results for t in r.to[0].association_types[:1])


def test_the_client_reads_the_properties_api(client: HubSpot) -> None:
    properties = client.crm.properties.core_api.get_all(object_type="deals").results
    by_name = {p.name: p for p in properties}
    assert {"amount", "amount_in_home_currency", "jira_issue_keys"} <= set(by_name)
    assert by_name["amount_in_home_currency"].calculated
    one = client.crm.properties.core_api.get_by_name(
        object_type="deals", property_name="jira_issue_keys"
    )
    assert one.hubspot_defined is False
