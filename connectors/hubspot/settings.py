"""HubSpot's settings: the API base, the access token, the app's client secret and the
company property revenue may come from."""

from __future__ import annotations

from pydantic import Field, SecretStr

from models.settings import CoreSettings, FieldName, ToolPart

HUBSPOT = ToolPart(
    "hubspot", "hubspot_url", "https://api.hubapi.com", secret="hubspot_access_token"
)


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
    hubspot_revenue_property: FieldName = Field(
        "annualrevenue", description="With revenue_from=crm_field: the HubSpot company property."
    )

    _hubspot_url = HUBSPOT.address_check()

    def revenue_property(self) -> str | None:
        """The company property a customer's revenue comes from, or None when it comes
        from deals."""
        return self.hubspot_revenue_property if self.revenue_from == "crm_field" else None
