"""A seventh tool added through the registry alone (tests/toy_vendor: one package), synced
end to end by the real pipeline: pulled over HTTP from its own small server, stored,
linked by the issue keys its tickets name, summed and published onto the sandbox's Jira."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import registry
from connectors.lookup import Lookup
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import Feedback, RecordKind
from store import Store
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import demand_property, issue_numbers, managed_comments
from tests.toy_vendor import VENDOR

TICKETS = [
    {
        "id": 1,
        "updated_at": "2024-05-01T09:00:00Z",
        "subject": "Export to CSV please",
        "body": "We need ANA-2 before renewal.",
        "email": "ops@first-customer.example",
    },
    {
        "id": 2,
        "updated_at": "2024-05-02T09:00:00Z",
        "subject": "Same ask",
        "body": "Also waiting on ANA-2.",
        "email": "lead@second-customer.example",
    },
    {
        "id": 3,
        "updated_at": "2024-05-03T09:00:00Z",
        "subject": "Unrelated question",
        "body": "How do I reset my password?",
        "email": "someone@third-customer.example",
    },
]
OTHER_TOOLS = (
    "zendesk_url",
    "intercom_url",
    "freshdesk_url",
    "hubspot_url",
    "salesforce_login_url",
)


class ToyApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        parts = urlsplit(self.path)
        if parts.path == "/tickets":
            since = parse_qs(parts.query).get("since", [""])[0]
            body: Any = {"tickets": [t for t in TICKETS if t["updated_at"] >= since]}
        elif parts.path.startswith("/tickets/"):
            found = [t for t in TICKETS if str(t["id"]) == parts.path.rsplit("/", 1)[1]]
            if not found:
                self.send_error(404)
                return
            body = found[0]
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The toy tool's server, its URL in its own setting, and the vendor registered."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ToyApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("PMSYNC_TOY_URL", url)
    unregister = registry.register(VENDOR)
    try:
        yield url
    finally:
        unregister()
        server.shutdown()
        server.server_close()


@pytest.fixture
def tracker_and_toy(sandbox_url: str, tmp_path: Path, toy: str) -> Settings:
    """The sandbox's Jira and the toy tool, nothing else: the demand is the toy's alone."""
    return Settings.for_sandbox(
        sandbox_url,
        database_url=f"sqlite:///{tmp_path / 'pmsync.db'}",
        **EXPLICIT_ONLY,
        **dict.fromkeys(OTHER_TOOLS),
    )


def test_a_toy_vendor_syncs_end_to_end_through_the_registry(
    tracker_and_toy: Settings, sandbox_url: str
) -> None:
    settings = tracker_and_toy
    assert registry.configured(settings) == ["jira", "toy"]
    store = Store(settings.database_url, upgrade=True)

    result = run_cycle(settings, store)

    assert result.failed == {} and result.dead_letters == 0
    assert result.pulled["toy"] == len(TICKETS)
    stored = {f.id: f for f in store.records.load(RecordKind.FEEDBACK, "toy")}
    assert set(stored) == {"1", "2", "3"}
    assert all(isinstance(f, Feedback) for f in stored.values())
    linked = {
        (link.source, link.record_id) for link in store.links.all() if link.issue_key == "ANA-2"
    }
    assert linked >= {("toy", "1"), ("toy", "2")}
    assert not any(link.record_id == "3" for link in store.links.all() if link.source == "toy")

    # The demand reached the Jira issue: two requests from two customers, shown once.
    assert issue_numbers(sandbox_url, "ANA-2")["requests"] == 2
    shown = demand_property(sandbox_url, "ANA-2")
    assert shown is not None and shown["requests"] == 2 and shown["customers"] == 2
    assert len(managed_comments(sandbox_url, "ANA-2")) == 1

    # A webhook's targeted read goes through the toy's own lookup, found by the registry.
    fetched = Lookup(settings).fetch("toy", "ticket", "2")
    assert fetched == stored["2"]

    # The next cycle reads from the saved cursor and writes nothing new.
    again = run_cycle(settings, store)
    assert again.published["written"] == 0


def test_registering_adds_a_vendor_and_undoing_restores_the_registry() -> None:
    before = registry.vendors()
    undo = registry.register(VENDOR)
    assert registry.find("toy") is VENDOR and registry.vendors()[-1] is VENDOR
    undo()
    assert registry.vendors() == before

    built_in = registry.vendor(before[1].name)
    stand_in = replace(built_in, role=registry.CRM)
    undo = registry.register(stand_in)
    assert registry.vendor(built_in.name) is stand_in
    undo()
    assert registry.vendor(built_in.name) is built_in


@pytest.mark.usefixtures("clean_environment")
def test_with_nothing_configured_the_commands_name_the_registered_tools_settings() -> None:
    """What an admin reads before the first sync comes from the registry: a tool added
    there is named among the addresses to set, and `publish` names the tracker's."""
    from typer.testing import CliRunner

    from pmsync.cli import app

    undo = registry.register(VENDOR)
    try:
        synced = CliRunner().invoke(app, ["sync"])
        published = CliRunner().invoke(app, ["publish"])
    finally:
        undo()

    assert synced.exit_code == 2, synced.output
    (line,) = synced.stderr.strip().splitlines()
    assert line.startswith("error: no tool is configured: set PMSYNC_JIRA_URL and at least one of")
    assert "PMSYNC_TOY_URL" in line and "PMSYNC_SALESFORCE_LOGIN_URL" in line
    assert published.exit_code == 2, published.output
    assert published.stderr.startswith("error: Jira is not configured: set PMSYNC_JIRA_URL")
