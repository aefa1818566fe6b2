"""What the Zendesk connector tests share: the URLs, a strict mock, a connector, and the
organisations and Jira links they serve."""

from __future__ import annotations

import pytest
import responses
from builders import (
    ZENDESK,
    RecordedSleep,
    sandbox_settings,
)

from connectors.zendesk.client import ZendeskConnector

EXPORT = f"{ZENDESK}/api/v2/incremental/tickets/cursor.json"
ORGANIZATIONS = f"{ZENDESK}/api/v2/organizations.json"
JIRA_LINKS = f"{ZENDESK}/api/v2/jira/links"
ORGANIZATION_EXPORT = f"{ZENDESK}/api/v2/incremental/organizations.json"


@pytest.fixture
def zendesk_mock():
    """Mocked HTTP that insists every answer is asked for; the Zendesk test modules take it
    as their `rsps`."""
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def zendesk() -> ZendeskConnector:
    return ZendeskConnector(sandbox_settings(), sleep=RecordedSleep())


def ticket_ids(pages) -> list[str]:
    return [ticket.id for page in pages for ticket in page.records]


def organization(org_id: int, *domains: str) -> dict:
    return {
        "id": org_id,
        "name": f"Org {org_id}",
        "domain_names": list(domains),
        "updated_at": "2024-05-01T10:20:30Z",
    }


def jira_link(link_id: int, ticket_id: int, issue_key: str) -> dict:
    return {
        "id": link_id,
        "ticket_id": ticket_id,
        "issue_id": "10001",
        "issue_key": issue_key,
        "created_at": "2024-05-01T10:20:30Z",
    }


def organization_export(orgs: list[dict], end_time: int, end_of_stream: bool) -> dict:
    """A page of the time-based incremental organisation export."""
    return {
        "organizations": orgs,
        "count": len(orgs),
        "end_time": end_time,
        "next_page": f"{ORGANIZATION_EXPORT}?start_time={end_time}",
        "end_of_stream": end_of_stream,
    }
