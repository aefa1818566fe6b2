"""Intercom's settings: the API base, the access token and the app's client secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from models.settings import CoreSettings, ToolPart

INTERCOM = ToolPart(
    "intercom", "intercom_url", "https://api.intercom.io", secret="intercom_access_token"
)


class IntercomSettings(CoreSettings):
    intercom_url: str | None = Field(
        None, description="Intercom API base; https://api.intercom.io for the real service."
    )
    intercom_access_token: SecretStr | None = Field(None, description="Intercom access token.")
    intercom_client_secret: SecretStr | None = Field(
        None, description="Intercom app client secret (signs webhooks)."
    )

    _intercom_url = INTERCOM.address_check()
