"""What the HubSpot connector tests share: the mocked portal, the associations it answers,
and the deals search's URLs."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import responses
from builders import (
    HUBSPOT,
    RecordedSleep,
    associations,
    body,
    hubspot_page,
    sandbox_settings,
)

import connectors.hubspot.client
from connectors.hubspot.client import HubSpotConnector

SEARCH = f"{HUBSPOT}/crm/v3/objects/deals/search"
ASSOCIATIONS = f"{HUBSPOT}/crm/v4/associations/deals/companies/batch/read"
COMPANIES = f"{HUBSPOT}/crm/v3/objects/companies"
DEALS_LIST = f"{HUBSPOT}/crm/v3/objects/deals"


def ms(text: str) -> str:
    return str(int(datetime.fromisoformat(text).timestamp() * 1000))


@pytest.fixture
def hubspot_mock():
    """Answers nothing but the portal: every deal property exists and the account names no
    company currency (tests that say otherwise replace these, `portal`). The HubSpot test
    modules take it as their `rsps`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        names = [{"name": n} for n in connectors.hubspot.client.DEAL_PROPERTIES]
        mock.add("GET", f"{HUBSPOT}/crm/v3/properties/deals", json={"results": names})
        mock.add("GET", f"{HUBSPOT}/account-info/v3/details", json={"portalId": 1})
        yield mock


@pytest.fixture
def companies_of(rsps) -> dict[str, list[int]]:
    """The associations batch read answers for whatever deals it is asked about; deals not
    named here have no company."""
    table: dict[str, list[int]] = {}

    def reply(request):
        asked = [item["id"] for item in json.loads(request.body)["inputs"]]
        answer = associations({i: table[i] for i in asked if i in table})
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("POST", ASSOCIATIONS, callback=reply)
    return table


def connector(**settings) -> HubSpotConnector:
    return HubSpotConnector(sandbox_settings(**settings), sleep=RecordedSleep())


def deal_ids(pages) -> list[str]:
    return [deal.id for page in pages for deal in page.records]


def search_filters(call) -> list[dict]:
    return [f for group in body(call).get("filterGroups", []) for f in group["filters"]]


T1, T2, T3 = "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"


def later(operator: str, when: str) -> dict:
    return {
        "filterGroups": [{"filters": [filter_("hs_lastmodifieddate", operator, ms(when))]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
    }


def ties(when: str, after_id: str | None = None) -> dict:
    filters = [filter_("hs_lastmodifieddate", "EQ", ms(when))]
    if after_id is not None:
        filters.append(filter_("hs_object_id", "GT", after_id))
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    }


def filter_(name: str, operator: str, value: str) -> dict:
    return {"propertyName": name, "operator": operator, "value": value}


# HubSpot's (string) order of six records that share T1.
SAME_TIMESTAMP = ["1", "10", "11", "2", "3", "9"]


def ties_past_the_cap(record) -> list[dict]:
    """A search's answers for the SAME_TIMESTAMP records (`record(id)` builds one at T1),
    read with a cap of 4 and pages of 2."""
    return [
        hubspot_page([record("1"), record("10")], after="2"),
        hubspot_page([record("11"), record("2")], after="4"),  # capped at T1
        hubspot_page([record("1"), record("10")], after="2"),  # ties at T1 from the start
        hubspot_page([record("11"), record("2")], after="4"),  # capped again inside T1
        hubspot_page([record("3"), record("9")]),  # ties at T1 after "2"
        hubspot_page([]),  # after T1: nothing
    ]


# The queries of the walk above after its first two (which differ only by `after`).
TIES_QUERIES = [ties(T1), ties(T1), ties(T1, "2"), later("GT", T1)]
