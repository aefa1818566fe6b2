"""Freshdesk's settings: the domain, the API key and the automations' shared secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from models.settings import CoreSettings, ToolPart

FRESHDESK = ToolPart(
    "freshdesk", "freshdesk_url", "https://yourdomain.freshdesk.com", secret="freshdesk_api_key"
)


class FreshdeskSettings(CoreSettings):
    freshdesk_url: str | None = Field(None, description="https://yourdomain.freshdesk.com")
    freshdesk_api_key: SecretStr | None = Field(None, description="Freshdesk API key.")
    freshdesk_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret Freshdesk automations send in a header."
    )

    _freshdesk_url = FRESHDESK.address_check()
