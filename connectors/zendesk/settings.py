"""Zendesk's settings: the subdomain, its API user and the webhook signing secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from models.settings import CoreSettings, ToolPart

ZENDESK = ToolPart(
    "zendesk",
    "zendesk_url",
    "https://yoursubdomain.zendesk.com",
    secret="zendesk_api_token",
    user="zendesk_email",
)


class ZendeskSettings(CoreSettings):
    zendesk_url: str | None = Field(None, description="https://yoursubdomain.zendesk.com")
    zendesk_email: str | None = Field(None, description="Email of the Zendesk API user.")
    zendesk_api_token: SecretStr | None = Field(None, description="Zendesk API token.")
    zendesk_webhook_secret: SecretStr | None = Field(
        None, description="Zendesk webhook signing secret."
    )

    _zendesk_url = ZENDESK.address_check()
