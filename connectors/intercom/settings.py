"""Intercom's settings: the API base, the access token and the app's client secret."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from models.settings import DEMO_SECRET, CoreSettings, ToolPart, tool_url


class IntercomSettings(CoreSettings):
    intercom_url: str | None = Field(
        None, description="Intercom API base; https://api.intercom.io for the real service."
    )
    intercom_access_token: SecretStr | None = Field(None, description="Intercom access token.")
    intercom_client_secret: SecretStr | None = Field(
        None, description="Intercom app client secret (signs webhooks)."
    )

    @field_validator("intercom_url")
    @classmethod
    def _intercom_url(cls, value: str | None) -> str | None:
        return tool_url(value, INTERCOM.example)


INTERCOM = ToolPart(
    "intercom",
    "intercom_url",
    "https://api.intercom.io",
    ("intercom_access_token",),
    lambda base: {
        "intercom_url": f"{base}/intercom",
        "intercom_access_token": SecretStr(DEMO_SECRET),
    },
)
