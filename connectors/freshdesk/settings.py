"""Freshdesk's settings: the domain, the API key and the automations' shared secret."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from models.settings import DEMO_SECRET, CoreSettings, ToolPart, tool_url


class FreshdeskSettings(CoreSettings):
    freshdesk_url: str | None = Field(None, description="https://yourdomain.freshdesk.com")
    freshdesk_api_key: SecretStr | None = Field(None, description="Freshdesk API key.")
    freshdesk_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret Freshdesk automations send in a header."
    )

    @field_validator("freshdesk_url")
    @classmethod
    def _freshdesk_url(cls, value: str | None) -> str | None:
        return tool_url(value, FRESHDESK.example)


FRESHDESK = ToolPart(
    "freshdesk",
    "freshdesk_url",
    "https://yourdomain.freshdesk.com",
    ("freshdesk_api_key",),
    lambda base: {
        "freshdesk_url": f"{base}/freshdesk",
        "freshdesk_api_key": SecretStr(DEMO_SECRET),
    },
)
