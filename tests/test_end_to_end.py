"""The whole pipeline over real HTTP against the sandbox: the numbers on the ticket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from pmsync.cli import app
from store import Store
from store.ledger import Ledger
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import assert_ticket_shows, managed_comments
from tests.oracle import EVERY_TOOL, expected_demand


def jira_writes(url: str) -> int:
    return requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["writes"]


def test_sync_puts_the_right_demand_on_every_linked_issue(settings: Settings, store: Store) -> None:
    """A product manager sees, on each linked issue, numbers the test derives on its own
    from the sandbox's data and planted links, and exactly one managed comment."""
    result = run_cycle(settings, store)
    expected = expected_demand(settings.jira_url.removesuffix("/jira"))  # type: ignore[union-attr]
    assert len(expected) >= 10, "the seeded world should link many issues"
    assert result.published == {"written": len(expected), "unchanged": 0, "failed": 0}
    assert set(result.pulled) == EVERY_TOOL
    assert result.pulled["jira"] >= 35 and result.dead_letters == 0
    assert_ticket_shows(settings.jira_url.removesuffix("/jira"), expected)  # type: ignore[union-attr]


def test_demand_and_publish_by_small_batches_put_the_same_numbers_on_the_tickets(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large store is summed and published a batch of issues at a time (memory holds a
    batch, not every summary): batches of 3 put exactly the numbers of one big batch."""
    import services.demand
    import services.publish

    monkeypatch.setattr(services.demand, "SUMMARY_BATCH", 3)
    monkeypatch.setattr(services.publish, "PUBLISH_BATCH", 3)
    computed: list[int] = []
    compute = services.demand.Summaries.__getitem__

    def counting(self, key):  # type: ignore[no-untyped-def]
        held = self._held
        found = compute(self, key)
        if self._held is not held:
            computed.append(len(self._held))
        return found

    monkeypatch.setattr(services.demand.Summaries, "__getitem__", counting)
    result = run_cycle(settings, store)
    url = settings.jira_url.removesuffix("/jira")  # type: ignore[union-attr]
    expected = expected_demand(url)
    assert result.published == {"written": len(expected), "unchanged": 0, "failed": 0}
    assert computed and max(computed) == 3 and sum(computed) == len(expected)  # once each
    assert_ticket_shows(url, expected)


def test_second_sync_writes_nothing(settings: Settings, store: Store, sandbox_url: str) -> None:
    """Unchanged data: zero write calls reach Jira, and still one comment per issue."""
    run_cycle(settings, store)
    before = jira_writes(sandbox_url)
    second = run_cycle(settings, store)
    assert second.published["written"] == 0
    assert second.published["failed"] == 0
    assert jira_writes(sandbox_url) == before
    assert_ticket_shows(sandbox_url, expected_demand(sandbox_url))


def test_crash_between_comment_and_ledger_leaves_one_comment(
    settings: Settings, store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies after posting comments but before recording them in the ledger
    must not post a second comment on the next run."""

    def crash(*args: object) -> None:
        raise RuntimeError("killed before the ledger entry")

    monkeypatch.setattr(Ledger, "record_publish", crash)
    with pytest.raises(RuntimeError):
        run_cycle(settings, store)
    monkeypatch.undo()
    touched = [key for key in expected_demand(sandbox_url) if managed_comments(sandbox_url, key)]
    assert len(touched) == 1, "the first issue's comment was posted before the crash"
    run_cycle(settings, store)
    assert_ticket_shows(sandbox_url, expected_demand(sandbox_url))


def test_sync_killed_mid_run_converges(
    settings: Settings, store_url: str, sandbox_url: str, tmp_path: Path
) -> None:
    """A sync killed while publishing, then run again, ends in the same state as one
    uninterrupted run: right numbers, one comment per issue."""
    script = (
        "import sys; from flows.pipeline import run_cycle; "
        "from connectors.settings import Settings; from store import Store; "
        "s = Settings.for_sandbox(sys.argv[1], database_url=sys.argv[2]); "
        "run_cycle(s, Store(s.database_url, upgrade=True))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, sandbox_url, store_url], cwd=Path(__file__).parent.parent
    )
    deadline = time.monotonic() + 60
    while jira_writes(sandbox_url) < 12 and process.poll() is None:
        assert time.monotonic() < deadline, "the sync never started publishing"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert jira_writes(sandbox_url) < 2 * len(expected_demand(sandbox_url)), (
        "the kill came after publishing finished; the test proves nothing"
    )
    run_cycle(settings, Store(store_url, upgrade=True))
    assert_ticket_shows(sandbox_url, expected_demand(sandbox_url))


def test_malformed_ticket_goes_to_dead_letters_and_the_rest_syncs(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A ticket with a malformed date is kept raw with the reason; everything else syncs,
    and once the tool serves it fixed, the next sync stores it and clears the letter."""
    bad = {
        "id": 990001,
        "subject": "Export is broken",
        "description": "see ANA-1",
        "status": "open",
        "requester_id": None,
        "organization_id": None,
        "tags": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "not-a-date",
    }
    inject = {"tool": "zendesk", "kind": "ticket", "record": bad}
    requests.post(f"{sandbox_url}/_sandbox/inject", json=inject, timeout=30).raise_for_status()
    result = run_cycle(settings, store)
    assert result.dead_letters == 1
    [letter] = store.dead_letters.all()
    assert letter["record_id"] == "990001" and "updated_at" in letter["reason"]
    assert letter["payload"]["updated_at"] == "not-a-date"
    assert result.published["failed"] == 0 and result.published["written"] > 0

    time.sleep(1.1)  # the export orders by whole seconds: the fix must be a later second
    fixed = dict(bad, updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    inject["record"] = fixed
    requests.post(f"{sandbox_url}/_sandbox/inject", json=inject, timeout=30).raise_for_status()
    run_cycle(settings, store)
    assert store.dead_letters.all() == []
    assert any(f.id == "990001" for f in store.records.load(RecordKind.FEEDBACK))


@pytest.mark.skipif(
    not os.environ.get("PMSYNC_TEST_POSTGRES_URL"),
    reason="PMSYNC_TEST_POSTGRES_URL not set: PostgreSQL end-to-end skipped",
)
def test_sync_on_postgresql(sandbox_url: str) -> None:
    """The same pipeline with the store on PostgreSQL puts the same numbers on the tickets."""
    from store.schema import metadata

    url = os.environ["PMSYNC_TEST_POSTGRES_URL"]
    store = Store(url, upgrade=True)
    metadata.drop_all(store.engine)
    store = Store(url, upgrade=True)
    try:
        settings = Settings.for_sandbox(sandbox_url, database_url=url, **EXPLICIT_ONLY)
        run_cycle(settings, store)
        assert run_cycle(settings, store).published["written"] == 0
        assert_ticket_shows(sandbox_url, expected_demand(sandbox_url))
    finally:
        metadata.drop_all(store.engine)


def test_every_planted_explicit_link_is_found_and_text_links_are_precise(
    sandbox_url: str, store: Store, store_url: str
) -> None:
    """Every key citation, Jira link and deal field the sandbox planted becomes a link;
    automatic text links, at the shipped threshold, are right at least 95% of the time."""
    settings = Settings.for_sandbox(sandbox_url, database_url=store_url)
    run_cycle(settings, store)
    truth = requests.get(f"{sandbox_url}/_sandbox/truth", timeout=30).json()
    found = {(k.source, k.record_id, k.issue_key): k for k in store.links.all()}
    planted = {(t["source"], t["record_id"], t["issue_key"]) for t in truth["links"]}
    explicit = [t for t in truth["links"] if t["method"] != "text"]
    missing = [t for t in explicit if (t["source"], t["record_id"], t["issue_key"]) not in found]
    assert missing == []
    auto_text = [
        pair for pair, link in found.items() if link.method == "text" and link.status == "auto"
    ]
    assert len(auto_text) >= 5
    assert sum(pair in planted for pair in auto_text) / len(auto_text) >= 0.95


def test_revenue_can_come_from_the_crm_revenue_field(
    sandbox_url: str, store: Store, store_url: str
) -> None:
    """With PMSYNC_REVENUE_FROM=crm_field, a customer's revenue is its CRM accounts'
    revenue field (HubSpot's annualrevenue, Salesforce's AnnualRevenue), each account once,
    not its closed-won deals; the rest of the numbers stay as they were."""
    settings = Settings.for_sandbox(
        sandbox_url, database_url=store_url, revenue_from="crm_field", **EXPLICIT_ONLY
    )
    run_cycle(settings, store)
    expected = expected_demand(sandbox_url, revenue_from="crm_field")
    assert expected != expected_demand(sandbox_url), "the field must differ from the deals"
    assert_ticket_shows(sandbox_url, expected)
    key = max(expected, key=lambda k: expected[k]["revenue"])
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url, PMSYNC_REVENUE_FROM="crm_field")
    shown = CliRunner().invoke(app, ["explain", key, "--json"], env=env)
    report = json.loads(shown.output)
    parts = sum(Decimal(c.get("revenue", "0")) for c in report["customers"])
    assert Decimal(report["numbers"]["revenue"]) == parts == expected[key]["revenue"]
