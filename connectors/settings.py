"""pmsync's settings: the core ones and every tool's part, read together from the
environment (PMSYNC_*) and .env.

Each tool's part is its vendor package's `settings.py`: its fields, their checks, the
credentials its address needs and its values against the sandbox. A new tool's settings
are one more base of `Settings` and one more entry of `PARTS` (or a model of its own that
its `Vendor` reads through `configured_by`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from connectors.freshdesk.settings import FRESHDESK, FreshdeskSettings
from connectors.hubspot.settings import HUBSPOT, HubSpotSettings
from connectors.intercom.settings import INTERCOM, IntercomSettings
from connectors.jira.settings import JIRA, JiraSettings
from connectors.salesforce.settings import SALESFORCE, SalesforceSettings
from connectors.zendesk.settings import ZENDESK, ZendeskSettings
from models.config_checks import variable
from models.settings import SANDBOX_VALUES, ConfigError, CoreSettings

__all__ = ["PARTS", "TOOL_URLS", "ConfigError", "Settings", "load_settings"]

# The tools' parts, in the order their credentials are checked and messages name them.
PARTS = (JIRA, ZENDESK, HUBSPOT, INTERCOM, FRESHDESK, SALESFORCE)

# The tools' address settings, with the example each message gives.
TOOL_URLS = {part.url_field: part.example for part in PARTS}


# pydantic orders the fields from the last base to the first: the core ones, then the
# tools' in the order a sync pulls them (the bases are listed in reverse for that).
class Settings(
    SalesforceSettings,
    HubSpotSettings,
    FreshdeskSettings,
    IntercomSettings,
    ZendeskSettings,
    JiraSettings,
    CoreSettings,
):
    budget_tools: ClassVar[tuple[str, ...]] = tuple(part.name for part in PARTS)

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        """A tool with a URL must have its credentials: fail at start, not mid-run."""
        for part in PARTS:
            missing = [variable(name) for name in part.credentials if not getattr(self, name)]
            if getattr(self, part.url_field) and missing:
                raise ConfigError(
                    f"{part.name} is configured ({variable(part.url_field)}) "
                    f"but {', '.join(missing)} is not set"
                )
        for part in PARTS:
            if part.more is not None:
                part.more(self)
        return self

    @classmethod
    def for_sandbox(cls, url: str, **overrides: object) -> Settings:
        """Every tool pointed at a running sandbox, with its fixed demo credentials."""
        base = url.rstrip("/")
        values: dict[str, object] = {}
        for part in PARTS:
            values.update(part.sandbox(base))
        values.update(SANDBOX_VALUES)
        values.update(overrides)
        # Through load: the rest still comes from the environment, and a bad value there
        # fails with the same one-line ConfigError.
        return cls.load(**values)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or a ConfigError on one line that names each setting
    to fix."""
    return Settings.load(**overrides)
