"""HubSpot's settings: the API base, the access token, the app's client secret and the
company property revenue may come from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from models.settings import DEMO_SECRET, CoreSettings, ToolPart, tool_url


class HubSpotSettings(CoreSettings):
    hubspot_url: str | None = Field(
        None, description="HubSpot API base; https://api.hubapi.com for the real service."
    )
    hubspot_access_token: SecretStr | None = Field(
        None, description="HubSpot private app access token."
    )
    hubspot_client_secret: SecretStr | None = Field(
        None, description="HubSpot app client secret (signs webhooks v3)."
    )
    hubspot_revenue_property: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")] = Field(
        "annualrevenue", description="With revenue_from=crm_field: the HubSpot company property."
    )

    @field_validator("hubspot_url")
    @classmethod
    def _hubspot_url(cls, value: str | None) -> str | None:
        return tool_url(value, HUBSPOT.example)

    def revenue_property(self) -> str | None:
        """The company property a customer's revenue comes from, or None when it comes
        from deals."""
        return self.hubspot_revenue_property if self.revenue_from == "crm_field" else None


HUBSPOT = ToolPart(
    "hubspot",
    "hubspot_url",
    "https://api.hubapi.com",
    ("hubspot_access_token",),
    lambda base: {
        "hubspot_url": f"{base}/hubspot",
        "hubspot_access_token": SecretStr(DEMO_SECRET),
    },
)
