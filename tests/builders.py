"""Small builders for what the vendors send and what pmsync asks, so tests read as the API's story.

Every payload follows /work/shared/docs/api-notes.md; only the fields a test cares about
need to be named, the rest get plausible defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from models import Settings

SANDBOX = "http://sandbox.test"
JIRA = f"{SANDBOX}/jira"
ZENDESK = f"{SANDBOX}/zendesk"
HUBSPOT = f"{SANDBOX}/hubspot"


def sandbox_settings(**overrides: Any) -> Settings:
    return Settings.for_sandbox(SANDBOX, **overrides)


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
    queue = list(bodies)

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        assert queue, f"{method} {url} asked more often than the server has pages for"
        return 200, {"Content-Type": "application/json"}, json.dumps(queue.pop(0))

    rsps.add_callback(method, url, callback=reply)


def query(call: Any) -> dict[str, list[str]]:
    """The query string of a recorded call, every value as a list."""
    return parse_qs(urlsplit(call.request.url).query)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def calls_to(rsps: responses.RequestsMock, path: str) -> list[Any]:
    return [c for c in rsps.calls if urlsplit(c.request.url).path.endswith(path)]


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
