"""A 200 is not an answer until its body has the documented shape. A vendor's error body,
a proxy's HTML page, an empty or unparsable body, or a page without its records key is a
failed request, retried like a 5xx; and nothing is ever deleted on the word of a listing
that lost most of what is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from builders import ZENDESK, RecordedSleep, sandbox_settings

from connectors import registry
from connectors.http import ApiClient, NotAnAnswer, Shape, checked_records
from connectors.hubspot.client import RESULTS_PAGE
from connectors.salesforce.client import QUERY_PAGE
from connectors.settings import Settings
from connectors.zendesk.client import TICKET_EXPORT_PAGE, ZendeskConnector
from flows.pipeline import run_cycle
from models import RecordKind
from sandbox.server import SandboxServer, start_sandbox
from store import Store
from tests.conftest import EXPLICIT_ONLY

URL = f"{ZENDESK}/api/v2/tickets.json"

# Error bodies as each vendor sends them (api-notes.md: "a 200 can carry an error body").
ERROR_BODIES = {
    "jira": {"errorMessages": ["Field 'updated' does not exist"], "errors": {}},
    "zendesk": {"error": "RecordNotFound", "description": "Not found"},
    "intercom": {
        "type": "error.list",
        "request_id": "000",
        "errors": [{"code": "server_error", "message": "Server Error"}],
    },
    "hubspot": {"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"},
    "salesforce": [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    "freshdesk": {"code": "invalid_credentials", "message": "You have to be logged in"},
}


@pytest.fixture
def api() -> ApiClient:
    return ZendeskConnector(sandbox_settings(http_max_attempts=3), sleep=RecordedSleep()).api


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.mark.parametrize("vendor", sorted(ERROR_BODIES))
def test_a_vendor_error_body_with_200_is_a_failed_request(api: ApiClient, rsps: Any, vendor: str):
    """Each vendor's error body, sent with 200, fails after the retries instead of
    reading as an answer with no records."""
    rsps.get(URL, json=ERROR_BODIES[vendor])
    with pytest.raises(NotAnAnswer, match="answered 200 with an error"):
        api.get_json(URL, records="tickets")
    assert len(rsps.calls) == 3  # retried like a 5xx


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "HTML page"),
        ("", "application/json", "no body"),
        ("{not json", "application/json", "no JSON"),
    ],
    ids=["html", "empty", "unparsable"],
)
def test_html_empty_or_unparsable_200_is_a_failed_request(
    api: ApiClient, rsps: Any, body: str, content_type: str, says: str
) -> None:
    rsps.get(URL, body=body, content_type=content_type)
    with pytest.raises(NotAnAnswer, match=says):
        api.get_json(URL)


def test_a_page_without_its_records_key_is_no_answer(api: ApiClient, rsps: Any) -> None:
    """`{}` is not "no tickets": the key the API documents must be there, as a list."""
    rsps.get(URL, json={})
    rsps.get(URL, json={"tickets": None})
    rsps.get(URL, json={"tickets": []})
    assert api.get_json(URL, records="tickets") == {"tickets": []}  # the third answer
    rsps.reset()
    rsps.get(URL, json={"count": 0})
    with pytest.raises(NotAnAnswer, match="no 'tickets' list"):
        api.get_json(URL, records="tickets")


def test_a_200_error_then_the_answer_reads_the_answer(api: ApiClient, rsps: Any) -> None:
    rsps.get(URL, json=ERROR_BODIES["zendesk"])
    rsps.get(URL, json={"tickets": [{"id": 1}]})
    assert api.get_json(URL, records="tickets") == {"tickets": [{"id": 1}]}


# -- end to end: error-shaped answers on every listing delete nothing ----------------------


@pytest.fixture
def server() -> Any:
    with start_sandbox(seed=7) as running:
        yield running


def snapshot(store: Store) -> tuple[Any, ...]:
    links = sorted((k.source, k.record_id, k.issue_key) for k in store.links.all())
    ledger = {key: entry.content_hash for key, entry in store.ledger.entries().items()}
    return store.records.count(), links, ledger


def configure(server: SandboxServer, **settings: Any) -> None:
    answer = requests.post(f"{server.url}/_sandbox/config", json=settings, timeout=30)
    assert answer.status_code == 200, answer.text


def test_every_answer_an_error_shaped_200_deletes_nothing(server: SandboxServer, tmp_path: Path):
    """Pins down the sweep that read `{"errorMessages": [...]}` as "no issues" and deleted
    every issue, and the organisation listing whose `{"error": ...}` deleted every account:
    with every request answered so, a full sync fails every tool and changes nothing."""
    settings = Settings.for_sandbox(
        server.url, database_url=f"sqlite:///{tmp_path / 's.db'}", **EXPLICIT_ONLY
    )
    store = Store(settings.database_url, upgrade=True)
    run_cycle(settings, store)
    before = snapshot(store)
    configure(server, faults=1.0, fault_kinds=["error_200"])
    result = run_cycle(settings.model_copy(update={"http_max_attempts": 2}), store, full=True)
    assert set(result.failed) == set(registry.configured(settings))
    assert all("no answer the API documents" in why for why in result.failed.values())
    assert snapshot(store) == before
    configure(server, faults=0.0)
    again = run_cycle(settings, store, full=True)
    assert again.failed == {} and snapshot(store)[:2] == before[:2]


def test_a_listing_that_lost_most_records_deletes_nothing_without_allow(
    server: SandboxServer, tmp_path: Path
) -> None:
    """Jira's id sweep naming half the stored issues (past PMSYNC_MAX_DELETE_SHARE) fails
    Jira's pull and deletes nothing; --allow-mass-delete lets the deletes through."""
    settings = Settings.for_sandbox(
        server.url, database_url=f"sqlite:///{tmp_path / 's.db'}", **EXPLICIT_ONLY
    )
    store = Store(settings.database_url, upgrade=True)
    run_cycle(settings, store)
    issues = [issue.key for issue in store.records.load(RecordKind.ISSUE)]
    gone = issues[: len(issues) // 2]
    for key in gone:
        answer = requests.post(
            f"{server.url}/_sandbox/delete",
            json={"tool": "jira", "kind": "issue", "id": key},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
    result = run_cycle(settings, store, full=True)
    assert set(result.failed) == {"jira"}
    assert "PMSYNC_MAX_DELETE_SHARE" in result.failed["jira"]
    assert len(store.records.load(RecordKind.ISSUE)) == len(issues)

    allowed = settings.model_copy(update={"allow_mass_delete": True})
    assert run_cycle(allowed, store, full=True).failed == {}
    assert len(store.records.load(RecordKind.ISSUE)) == len(issues) - len(gone)


@pytest.mark.parametrize(
    ("shape", "page"),
    [
        (TICKET_EXPORT_PAGE, {"tickets": [], "after_cursor": 123, "end_of_stream": False}),
        (TICKET_EXPORT_PAGE, {"tickets": [], "after_cursor": "c", "end_of_stream": "true"}),
        (RESULTS_PAGE, {"results": [], "paging": {"next": {"after": 200}}}),
        (QUERY_PAGE, {"records": [], "done": "true"}),
        (QUERY_PAGE, {"records": [], "done": False, "nextRecordsUrl": 7}),
    ],
    ids=["zendesk-cursor-int", "zendesk-eos-text", "hubspot-after-int", "sf-done-text", "sf-next"],
)
def test_paging_keys_of_another_type_are_no_answer(shape: Shape, page: Any) -> None:
    """A paging key typed otherwise than documented (a number for a cursor, "true" for a
    boolean) would end a stream early or loop: the page is refused."""
    with pytest.raises(NotAnAnswer, match="not what the API documents"):
        checked_records("tool", "GET /page", page, shape)


def test_documented_pages_pass_with_their_optional_paging_keys_absent() -> None:
    assert checked_records("t", "w", {"tickets": [], "end_of_stream": True}, TICKET_EXPORT_PAGE)
    assert checked_records("t", "w", {"results": []}, RESULTS_PAGE)
    assert checked_records("t", "w", {"records": [], "done": True}, QUERY_PAGE)
