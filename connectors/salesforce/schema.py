"""What a Salesforce org has, read once per pull from describe: which fields to select, which
optional features are off (and what to change to get them), and the currencies.

Orgs differ: most have no `Jira_Issue_Keys__c` on Opportunity, field-level security hides
fields from the API user (describe lists only the fields the user may read), and a
multi-currency org keeps each opportunity's Amount in its own currency (`CurrencyIsoCode`).
Selecting a field the org lacks fails the whole query (400 INVALID_FIELD), so the queries
name only what describe listed. In a multi-currency org, `convertCurrency(Amount)` gives the
amount in the corporate currency (SOQL reference, "convertCurrency()": aliases are allowed,
and without one the converted value would take the field's own name, so the alias keeps
both the deal's own amount and the converted one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.base import Capability, MissingFeatures

API = "/services/data/v60.0"
ISSUE_KEYS_FIELD = "Jira_Issue_Keys__c"
CONVERTED_AMOUNT = "ConvertedAmount"
CONVERTED_REVENUE = "ConvertedRevenue"
CURRENCY_FIELD = "CurrencyIsoCode"
# What every opportunity needs to be a deal at all; without these the pull cannot go on.
OPPORTUNITY_REQUIRED = ["Id", "Name", "StageName", "IsClosed", "IsWon", "SystemModstamp"]
# What a deal carries when the org lets the API user read it, in the order selected.
OPPORTUNITY_OPTIONAL = {
    "Amount": "deals have no amount (revenue and open pipeline count them as 0)",
    "Probability": "deals have no probability",
    "CloseDate": "deals have no close date (won deals count as revenue only with one)",
    "AccountId": "deals are not tied to their accounts (only issues they name get them)",
}
OPPORTUNITY_ORDER = [
    "Id",
    "Name",
    "Amount",
    "StageName",
    "Probability",
    "CloseDate",
    "AccountId",
    "IsClosed",
    "IsWon",
    ISSUE_KEYS_FIELD,
    "SystemModstamp",
]
FLS = (
    "or the API user's profile cannot read it: grant Read on the field "
    "(Setup > Object Manager > {obj} > Fields & Relationships > {field} > Set Field-Level "
    "Security)"
)


def _absent(obj: str, field: str, effect: str) -> str:
    return f"{obj}.{field} is not readable: {effect}. The field does not exist " + FLS.format(
        obj=obj, field=field
    )


ISSUE_KEYS_MISSING = (
    f"Opportunity has no field {ISSUE_KEYS_FIELD} (or the API user cannot read it), so deals "
    "cannot name Jira issues themselves; they still count for the issues their customers "
    "asked for. To turn it on, create the custom field Jira_Issue_Keys__c on Opportunity "
    "(Text, issue keys separated by ';') and give the API user's profile Read on it."
)


@dataclass(frozen=True)
class OrgSchema:
    """The fields the API user can read on Opportunity and Account (name -> describe type),
    and the corporate currency when the org has several."""

    opportunity: dict[str, str]
    account: dict[str, str]
    corporate_currency: str | None = None

    @property
    def multi_currency(self) -> bool:
        return CURRENCY_FIELD in self.opportunity

    def opportunity_columns(self, missing: MissingFeatures) -> list[str]:
        """The SELECT list for opportunities; each optional field the org lacks is noted."""
        columns = []
        for name in OPPORTUNITY_ORDER:
            if name in OPPORTUNITY_REQUIRED or name in self.opportunity:
                columns.append(name)
            elif name == ISSUE_KEYS_FIELD:
                missing.note("opportunity_issue_keys", ISSUE_KEYS_MISSING)
            else:
                effect = OPPORTUNITY_OPTIONAL[name]
                missing.note(f"opportunity_{name.lower()}", _absent("Opportunity", name, effect))
        if self.multi_currency and "Amount" in self.opportunity:
            columns += [CURRENCY_FIELD, f"convertCurrency(Amount) {CONVERTED_AMOUNT}"]
        return columns

    def account_columns(self, revenue_field: str | None, missing: MissingFeatures) -> list[str]:
        """The SELECT list for accounts: the revenue field only when configured and readable
        (converted to the corporate currency when it is a currency field of such an org)."""
        columns = ["Id", "Name"]
        if "Website" in self.account:
            columns.append("Website")
        else:
            missing.note(
                "account_domains",
                _absent("Account", "Website", "accounts have no domain to match customers by"),
            )
        if revenue_field and revenue_field not in self.account:
            missing.note(
                "account_revenue",
                _absent(
                    "Account",
                    revenue_field,
                    "revenue is unknown for every account (PMSYNC_SALESFORCE_REVENUE_FIELD)",
                ),
            )
        columns.append("SystemModstamp")
        if revenue_field and revenue_field in self.account:
            columns.append(revenue_field)
            converts = CURRENCY_FIELD in self.account
            if converts and self.account[revenue_field] == "currency":
                columns.append(f"convertCurrency({revenue_field}) {CONVERTED_REVENUE}")
        return columns


def field_types(answer: dict[str, Any]) -> dict[str, str]:
    """name -> type of each field a describe answer lists."""
    return {
        str(f["name"]): str(f.get("type") or "")
        for f in answer.get("fields") or []
        if isinstance(f, dict) and f.get("name")
    }


def read_schema(
    get: Callable[..., Any], query_one: Callable[[str], list[dict[str, Any]]]
) -> OrgSchema:
    """Describe Opportunity and Account (two calls), and in a multi-currency org read the
    corporate currency from CurrencyType (one more)."""
    opportunity = field_types(get(f"{API}/sobjects/Opportunity/describe"))
    account = field_types(get(f"{API}/sobjects/Account/describe"))
    corporate = None
    if CURRENCY_FIELD in opportunity:
        rows = query_one("SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true")
        corporate = str(rows[0]["IsoCode"]) if rows and rows[0].get("IsoCode") else None
    return OrgSchema(opportunity, account, corporate)


def capabilities_of(schema: OrgSchema, revenue_field: str | None) -> list[Capability]:
    """Each optional feature as this org has it, for `pmsync check`."""
    found: list[Capability] = []
    missing = MissingFeatures()
    schema.opportunity_columns(missing)
    schema.account_columns(revenue_field, missing)

    def feature(name: str, present: str) -> Capability:
        if name in missing:
            return Capability("salesforce", name, False, missing[name])
        return Capability("salesforce", name, True, present)

    found.append(
        feature(
            "opportunity_issue_keys",
            f"Opportunity.{ISSUE_KEYS_FIELD} is read: deals name the Jira issues in it",
        )
    )
    for name in OPPORTUNITY_OPTIONAL:
        found.append(feature(f"opportunity_{name.lower()}", f"Opportunity.{name} is read"))
    found.append(feature("account_domains", "Account.Website is read as the account's domain"))
    if revenue_field:
        found.append(feature("account_revenue", f"Account.{revenue_field} is read as revenue"))
    if schema.multi_currency:
        corporate = schema.corporate_currency or "the corporate currency"
        found.append(
            Capability(
                "salesforce",
                "currency_conversion",
                True,
                f"multi-currency org: amounts are converted into {corporate} with "
                "convertCurrency() (Salesforce converts into the API user's currency: keep "
                "that user's Currency at the corporate one)",
            )
        )
    else:
        found.append(
            Capability(
                "salesforce",
                "currency_conversion",
                True,
                "single-currency org: every amount is in the org's currency, nothing to convert",
            )
        )
    return found
