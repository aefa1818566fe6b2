"""Salesforce's settings: where to get tokens, the connected app, the outbound calls'
shared secret and header, and the Account field revenue may come from."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from models.settings import CoreSettings, FieldName, ToolPart

SALESFORCE = ToolPart(
    "salesforce",
    "salesforce_login_url",
    "https://yourdomain.my.salesforce.com",
    secret="salesforce_client_secret",
    user="salesforce_client_id",
)


class SalesforceSettings(CoreSettings):
    salesforce_login_url: str | None = Field(
        None, description="Where to get OAuth tokens: https://yourdomain.my.salesforce.com"
    )
    salesforce_client_id: str | None = Field(None, description="Connected app consumer key.")
    salesforce_client_secret: SecretStr | None = Field(
        None, description="Connected app consumer secret (client credentials flow)."
    )
    salesforce_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret Salesforce outbound calls send in a header."
    )
    salesforce_webhook_header: str = Field(
        "X-Pmsync-Secret", description="Header that carries the Salesforce shared secret."
    )
    salesforce_revenue_field: FieldName = Field(
        "AnnualRevenue", description="With revenue_from=crm_field: the Salesforce Account field."
    )

    _salesforce_url = SALESFORCE.address_check()

    @field_validator("salesforce_webhook_header")
    @classmethod
    def _header_name(cls, name: str) -> str:
        # An HTTP field name (RFC 9110 token): anything else never arrives as sent.
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            raise ValueError(f"{name[:60]!r} is not an HTTP header name: e.g. X-Pmsync-Secret")
        return name

    def revenue_account_field(self) -> str | None:
        """The Account field a customer's revenue comes from, or None when it comes from
        deals."""
        return self.salesforce_revenue_field if self.revenue_from == "crm_field" else None
