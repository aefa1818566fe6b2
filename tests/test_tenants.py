"""Real tenants vary: the oracle's numbers reach the tickets on every tenant profile the
sandbox has, and a tenant missing optional features gets every tool's records all the
same, with each missing feature named by the run and by `pmsync check`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import registry
from connectors.settings import Settings
from flows.check import run_checks
from flows.pipeline import run_cycle
from sandbox.server import SandboxServer, start_sandbox
from sandbox.tenants import TENANTS
from store import Store
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import assert_ticket_shows, managed_comments
from tests.oracle import expected_demand


@pytest.fixture(params=sorted(TENANTS))
def tenant(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with start_sandbox(seed=7, tenant=request.param) as server:
        yield server


def test_every_tenant_profile_shows_the_oracles_numbers(tenant: SandboxServer, tmp_path: Path):
    settings = Settings.for_sandbox(
        tenant.url, database_url=f"sqlite:///{tmp_path / 's.db'}", **EXPLICIT_ONLY
    )
    result = run_cycle(settings, Store(settings.database_url, upgrade=True))
    assert result.failed == {}
    assert all(result.pulled[tool] > 0 for tool in registry.configured(settings)), result.pulled
    expected = expected_demand(tenant.url)
    assert len(expected) >= 10
    assert result.published == {"written": len(expected), "unchanged": 0, "failed": 0}
    assert_ticket_shows(tenant.url, expected)


def test_a_minimal_tenant_names_each_missing_feature_in_the_run_and_in_check(tmp_path: Path):
    """No custom deal fields, an agent's Zendesk token, a Jira user who is no admin and a
    HubSpot app without the notes scopes: each switches off one feature, says what to
    change, and stops nothing."""
    with start_sandbox(seed=7, tenant="minimal") as server:
        settings = Settings.for_sandbox(server.url, database_url=f"sqlite:///{tmp_path / 's.db'}")
        result = run_cycle(settings, Store(settings.database_url, upgrade=True))
        checks = {c.name: c for c in run_checks(settings)}
    assert result.failed == {}
    missing = {(tool, feature) for tool, features in result.missing.items() for feature in features}
    expected = {
        ("zendesk", "jira_links"),
        ("salesforce", "opportunity_issue_keys"),
        ("hubspot", "deal_issue_keys"),
        ("jira", "quiet_edits"),
    }
    assert expected <= missing, missing
    assert all(check.ok for check in checks.values()), [c for c in checks.values() if not c.ok]
    for tool, feature in expected - {("jira", "quiet_edits")}:
        found = [c for name, c in checks.items() if name.startswith(tool) and c.missing]
        assert any(feature in c.name for c in found), (tool, feature, found)
    assert any(c.missing for name, c in checks.items() if name.startswith("hubspot")), (
        "the notes scopes are reported missing"
    )


def test_check_probes_every_write_permission_pmsync_needs(sandbox_url: str) -> None:
    """Publishing (fields, property, comment) and each tool's closing-the-loop note are
    writes: `check` reports the permission each needs, before a run finds out."""
    checks = {c.name: c for c in run_checks(Settings.for_sandbox(sandbox_url))}
    assert checks["jira write ANA"].ok and not checks["jira write ANA"].missing
    for tool in ("zendesk", "intercom", "freshdesk", "hubspot", "salesforce"):
        notes = checks[f"{tool} closing_notes"]
        assert notes.ok and not notes.missing, notes


def test_a_multi_currency_tenant_names_the_company_currency(tmp_path: Path) -> None:
    with start_sandbox(seed=7, tenant="multi-currency") as server:
        settings = Settings.for_sandbox(
            server.url, database_url=f"sqlite:///{tmp_path / 's.db'}", **EXPLICIT_ONLY
        )
        run_cycle(settings, Store(settings.database_url, upgrade=True))
        expected = expected_demand(server.url)
        key = max(expected, key=lambda k: expected[k]["open_pipeline"])  # one with deals
        [comment] = managed_comments(server.url, key)
    assert "Amounts in USD, the company currency." in comment
