"""Small builders for what the vendors send and what pmsync asks, so tests read as the API's story.

Every payload follows /work/shared/docs/api-notes.md; only the fields a test cares about
need to be named, the rest get plausible defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from connectors.settings import Settings
from models.records import CustomerDemand, DemandSummary

SANDBOX = "http://sandbox.test"
JIRA = f"{SANDBOX}/jira"
ZENDESK = f"{SANDBOX}/zendesk"
HUBSPOT = f"{SANDBOX}/hubspot"
INTERCOM = f"{SANDBOX}/intercom"
FRESHDESK = f"{SANDBOX}/freshdesk"
SALESFORCE = f"{SANDBOX}/salesforce"  # the login URL, and the instance its token names
# When a connector test's run starts (`freeze_now`): cursors never move past it.
RUN_START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NEW_TOOLS: dict[str, Any] = {
    "intercom_url": INTERCOM,
    "intercom_access_token": "sandbox",
    "freshdesk_url": FRESHDESK,
    "freshdesk_api_key": "sandbox",
    "salesforce_login_url": SALESFORCE,
    "salesforce_client_id": "demo@example.com",
    "salesforce_client_secret": "sandbox",
}


def sandbox_settings(**overrides: Any) -> Settings:
    """Every tool at the fake sandbox (the three newer ones named explicitly, so these
    tests do not depend on what `for_sandbox` serves yet)."""
    return Settings.for_sandbox(SANDBOX, **{**NEW_TOOLS, **overrides})


class RecordedSleep:
    """A `sleep` that only writes down how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def freeze_now(monkeypatch: Any, module: ModuleType, moment: datetime) -> None:
    """Make `datetime.now()` inside `module` return `moment` (the run's start)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return moment if tz is None else moment.astimezone(tz)

    monkeypatch.setattr(module, "datetime", Frozen)


def script(rsps: responses.RequestsMock, method: str, url: str, bodies: Sequence[Any]) -> None:
    """Serve `bodies` in order, one per request; asking for more fails the test loudly
    (so a paginator that loops shows up as a failure, not a hang)."""
    script_replies(rsps, method, url, [(200, {}, body) for body in bodies])


def script_replies(
    rsps: responses.RequestsMock,
    method: str,
    url: Any,
    replies: Sequence[tuple[int, dict[str, str], Any]],
) -> None:
    """`script` with each reply's status and headers: (status, headers, body)."""
    queue = list(replies)

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        assert queue, f"{method} {url} asked more often than the server has replies for"
        status, headers, answer = queue.pop(0)
        return status, {"Content-Type": "application/json", **headers}, json.dumps(answer)

    rsps.add_callback(method, url, callback=reply)


def query(call: Any) -> dict[str, list[str]]:
    """The query string of a recorded call, every value as a list."""
    return parse_qs(urlsplit(call.request.url).query)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def calls_to(rsps: responses.RequestsMock, path: str) -> list[Any]:
    return [c for c in rsps.calls if urlsplit(c.request.url).path.endswith(path)]


def record_ids(pages: Iterable[Any]) -> list[str]:
    """The ids of the records a connector read, page after page."""
    return [record.id for page in pages for record in page.records]


# -- Jira ------------------------------------------------------------------------------------


def jira_issue(
    number: int, updated: str = "2024-05-01T10:20:30.000+0000", **fields: Any
) -> dict[str, Any]:
    key = f"ANA-{number}"
    return {
        "id": str(10000 + number),
        "key": key,
        "self": f"{JIRA}/rest/api/3/issue/{10000 + number}",
        "fields": {
            "summary": f"Issue {number}",
            "status": {"name": "To Do", "statusCategory": {"key": "new"}},
            "project": {"key": "ANA"},
            "created": "2024-01-01T00:00:00.000+0000",
            "updated": updated,
            **fields,
        },
    }


def jira_page(
    issues: Iterable[dict[str, Any]], token: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A /search/jql answer: a token only when Jira has more; `extra` for e.g. isLast."""
    page: dict[str, Any] = {"issues": list(issues), **extra}
    if token is not None:
        page["nextPageToken"] = token
    return page


# -- Zendesk ---------------------------------------------------------------------------------


def zendesk_ticket(
    ticket_id: int, updated_at: str = "2024-05-01T10:20:30Z", **extra: Any
) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "subject": f"Ticket {ticket_id}",
        "description": "Please add SSO",
        "status": "open",
        "requester_id": None,
        "organization_id": None,
        "tags": [],
        "created_at": "2024-04-01T08:00:00Z",
        "updated_at": updated_at,
        **extra,
    }


def export_page(
    tickets: Iterable[dict[str, Any]],
    after_cursor: str | None,
    end_of_stream: bool | None = None,
    users: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """An incremental ticket export page; `end_of_stream=None` leaves the key out."""
    page: dict[str, Any] = {
        "tickets": list(tickets),
        "users": list(users),
        "after_cursor": after_cursor,
        "after_url": None,
        "before_cursor": None,
        "before_url": None,
    }
    if end_of_stream is not None:
        page["end_of_stream"] = end_of_stream
    return page


def cursor_page(key: str, items: Iterable[dict[str, Any]], after: str | None) -> dict[str, Any]:
    """A Zendesk cursor-paginated list: `has_more` is true exactly when `after` is given."""
    return {
        key: list(items),
        "meta": {"has_more": after is not None, "after_cursor": after, "before_cursor": None},
    }


# -- HubSpot ---------------------------------------------------------------------------------


def hubspot_deal(deal_id: int, modified: str = "2024-05-01T10:20:30Z", **props: Any) -> dict:
    properties = {
        "dealname": f"Deal {deal_id}",
        "amount": "1000",
        "dealstage": "appointmentscheduled",
        "pipeline": "default",
        "closedate": None,
        "hs_is_closed": "false",
        "hs_is_closed_won": "false",
        "hs_lastmodifieddate": modified,
        "jira_issue_keys": None,
        **props,
    }
    return {
        "id": str(deal_id),
        "properties": properties,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": modified,
        "archived": False,
    }


def hubspot_company(company_id: int, name: str, domain: str | None) -> dict[str, Any]:
    return {
        "id": str(company_id),
        "properties": {
            "name": name,
            "domain": domain,
            "hs_lastmodifieddate": "2024-05-01T10:20:30Z",
        },
    }


def hubspot_page(results: Iterable[dict[str, Any]], after: str | None = None) -> dict[str, Any]:
    """A list or search answer: `paging.next` only when there is more."""
    page: dict[str, Any] = {"results": list(results)}
    if after is not None:
        page["paging"] = {"next": {"after": after, "link": f"{HUBSPOT}/?after={after}"}}
    return page


def associations(companies_of: dict[str, list[int]]) -> dict[str, Any]:
    """An associations v4 batch read answer, deal id -> company ids."""
    return {
        "status": "COMPLETE",
        "results": [
            {
                "from": {"id": deal_id},
                "to": [
                    {
                        "toObjectId": company,
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}
                        ],
                    }
                    for company in companies
                ],
            }
            for deal_id, companies in companies_of.items()
        ],
    }


# -- Intercom --------------------------------------------------------------------------------


def unix(text: str) -> int:
    """`2024-05-01T10:20:30Z` as unix seconds, how Intercom sends and takes times."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def intercom_conversation(
    conversation_id: int,
    updated_at: str = "2024-05-01T10:20:30Z",
    body: str = "<p>Please add SSO</p>",
    author: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": str(conversation_id),
        "title": None,
        "created_at": unix("2024-04-01T08:00:00Z"),
        "updated_at": unix(updated_at),
        "state": "open",
        "tags": {"type": "tag.list", "tags": []},
        "source": {
            "type": "conversation",
            "body": body,
            "author": author
            or {"type": "user", "id": f"c{conversation_id}", "email": "ann@acme.com"},
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": f"c{conversation_id}"}],
        },
        **extra,
    }


def intercom_page(
    conversations: Iterable[dict[str, Any]], starting_after: str | None = None
) -> dict[str, Any]:
    """A conversation search answer: `pages.next` only when there is more."""
    items = list(conversations)
    pages: dict[str, Any] = {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1}
    if starting_after is not None:
        pages["next"] = {"page": 2, "starting_after": starting_after}
    return {
        "type": "conversation.list",
        "conversations": items,
        "total_count": len(items),
        "pages": pages,
    }


def intercom_contact(contact_id: str, email: str, *companies: str) -> dict[str, Any]:
    return {
        "type": "contact",
        "id": contact_id,
        "email": email,
        "name": email.split("@")[0].title(),
        "companies": {
            "type": "list",
            "data": [{"type": "company", "id": c} for c in companies],
            "has_more": False,
        },
    }


def intercom_company(company_id: str, name: str, website: str | None) -> dict[str, Any]:
    return {
        "type": "company",
        "id": company_id,
        "company_id": f"ext-{company_id}",
        "name": name,
        "website": website,
        "updated_at": unix("2024-05-01T10:20:30Z"),
    }


# -- Freshdesk -------------------------------------------------------------------------------


def freshdesk_ticket(
    ticket_id: int, updated_at: str = "2024-05-01T10:20:30Z", **extra: Any
) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "subject": f"Ticket {ticket_id}",
        "description": "<div>Please add SSO</div>",
        "description_text": "Please add SSO",
        "status": 2,
        "priority": 1,
        "requester_id": 9000 + ticket_id,
        "requester": {"id": 9000 + ticket_id, "name": "Ann", "email": "ann@acme.com"},
        "company_id": None,
        "tags": [],
        "custom_fields": {},
        "created_at": "2024-04-01T08:00:00Z",
        "updated_at": updated_at,
        **extra,
    }


def next_link(url: str | None) -> dict[str, str]:
    """The `Link` header Freshdesk sends when there is a next page; none on the last."""
    return {"Link": f'<{url}>; rel="next"'} if url else {}


# -- Salesforce ------------------------------------------------------------------------------


def sf_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce record id, e.g. 006000000000001AAA."""
    return f"{prefix}{number:012d}AAA"


def sf_record(sobject: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A record as a query answers it: its type and URL under `attributes`, then its fields."""
    return {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v60.0/sobjects/{sobject}/{record_id}",
        },
        "Id": record_id,
        **fields,
    }


def sf_opportunity(
    number: int, modstamp: str = "2024-05-01T10:20:30.000+0000", **fields: Any
) -> dict[str, Any]:
    return sf_record(
        "Opportunity",
        sf_id("006", number),
        {
            "Name": f"Opportunity {number}",
            "Amount": 15000.0,
            "StageName": "Prospecting",
            "Probability": 10.0,
            "CloseDate": "2024-06-30",
            "AccountId": sf_id("001", 1),
            "IsClosed": False,
            "IsWon": False,
            "Jira_Issue_Keys__c": None,
            "SystemModstamp": modstamp,
            **fields,
        },
    )


def sf_account(number: int, website: str | None = "https://www.acme.com") -> dict[str, Any]:
    return sf_record(
        "Account",
        sf_id("001", number),
        {
            "Name": f"Account {number}",
            "Website": website,
            "SystemModstamp": "2024-05-01T10:20:30.000+0000",
        },
    )


def soql_page(records: Iterable[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    """A query answer: `done` is false exactly when a nextRecordsUrl follows."""
    items = list(records)
    page: dict[str, Any] = {"totalSize": len(items), "done": next_url is None, "records": items}
    if next_url:
        page["nextRecordsUrl"] = next_url
    return page


# -- what pmsync publishes -------------------------------------------------------------------


def demand_summary(
    customers: int,
    *,
    account: str = "domain:c{i}.com",
    name: str = "Customer {i}",
    each_revenue: int = 1000,
    each_pipeline: int = 0,
    **fields: Any,
) -> DemandSummary:
    """ANA-1's demand from `customers` customers of one request each (`account` and `name`
    take the customer's number as {i}); the totals add them up unless `fields` say otherwise."""
    totals = {
        "requests": customers,
        "customers": customers,
        "revenue": Decimal(customers * each_revenue),
        "open_pipeline": Decimal(customers * each_pipeline),
    }
    top = [
        CustomerDemand(
            account=account.format(i=i),
            name=name.format(i=i),
            requests=1,
            revenue=Decimal(each_revenue),
            open_pipeline=Decimal(each_pipeline),
        )
        for i in range(customers)
    ]
    return DemandSummary(issue_key="ANA-1", top_customers=top, **(totals | fields))
