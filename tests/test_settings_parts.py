"""Each tool's settings are its vendor package's part (connectors/<tool>/settings.py), and
connectors.settings.Settings puts every part together: a part left out, or a field that
strays into another tool's part, would leave a tool unchecked at start or unconfigurable."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from connectors import registry
from connectors.settings import PARTS, TOOL_URLS, Settings, load_settings
from models import ConfigError, CoreSettings


def part_class(tool: str) -> type[CoreSettings]:
    module = importlib.import_module(f"connectors.{tool}.settings")
    [found] = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, CoreSettings) and value is not CoreSettings
    ]
    return found


def test_every_built_in_tool_has_a_part_that_settings_puts_together() -> None:
    built_in = [importlib.import_module(p).VENDOR for p in registry.PACKAGES]
    assert {v.name for v in built_in} == {part.name for part in PARTS}
    for vendor in built_in:
        [part] = [p for p in PARTS if p.name == vendor.name]
        assert part.url_field == vendor.url_field
        assert issubclass(Settings, part_class(vendor.name)), vendor.name
        assert vendor.url_field in TOOL_URLS
    assert Settings.budget_tools == tuple(part.name for part in PARTS)


def test_a_part_holds_only_its_own_tools_settings() -> None:
    """Every field beyond the core ones is named for its tool, and its part declares it."""
    core = set(CoreSettings.model_fields)
    for part in PARTS:
        own = set(part_class(part.name).model_fields) - core
        assert own and all(name.startswith(f"{part.name}_") for name in own), part.name
        assert {part.url_field, *part.credentials} <= own, part.name
    tools = set(Settings.model_fields) - core
    assert tools == {
        name for part in PARTS for name in set(part_class(part.name).model_fields) - core
    }


@pytest.mark.usefixtures("clean_environment")
def test_the_sandbox_values_configure_every_tool() -> None:
    settings = Settings.for_sandbox("http://127.0.0.1:1/", database_url="sqlite://")
    assert [p.name for p in PARTS if getattr(settings, p.url_field)] == [p.name for p in PARTS]
    assert settings.jira_url == "http://127.0.0.1:1/jira"


@pytest.mark.usefixtures("clean_environment")
def test_the_environment_and_env_file_reach_the_parts_fields(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pydantic-settings reads the PMSYNC_ variables and .env for the parts' fields too."""
    (tmp_path / ".env").write_text("PMSYNC_SALESFORCE_WEBHOOK_HEADER=X-From-Env-File\n")
    monkeypatch.setenv("PMSYNC_DATABASE_URL", "sqlite://")
    monkeypatch.setenv("PMSYNC_JIRA_PROJECTS", "ana,web")
    monkeypatch.setenv("PMSYNC_HUBSPOT_REVENUE_PROPERTY", "arr")
    monkeypatch.setenv("PMSYNC_REVENUE_FROM", "crm_field")
    settings = load_settings()
    assert settings.jira_projects == ("ANA", "WEB")
    assert settings.salesforce_webhook_header == "X-From-Env-File"
    assert settings.revenue_property() == "arr"
    assert settings.revenue_account_field() == "AnnualRevenue"
    monkeypatch.setenv("PMSYNC_ZENDESK_URL", "https://z.example")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid configuration: zendesk is configured (PMSYNC_ZENDESK_URL) but "
        "PMSYNC_ZENDESK_EMAIL, PMSYNC_ZENDESK_API_TOKEN is not set"
    )
