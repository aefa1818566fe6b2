"""When a listing (accounts, the tools' Jira links) is read in full, and the revenue field a
CRM's accounts carry when revenue comes from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from builders import sandbox_settings

from connectors.base import listing_read
from connectors.hubspot.client import company_from_raw
from connectors.salesforce.client import account_from_raw

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def saved(hours_ago: float, fields: str | None = None) -> dict:
    cursor = {"since": (NOW - timedelta(minutes=10)).isoformat(), "full_at": ""}
    cursor["full_at"] = (NOW - timedelta(hours=hours_ago)).isoformat()
    return {**cursor, "fields": fields} if fields else cursor


@pytest.mark.parametrize(
    ("cursor", "full", "fields", "reads_in_full"),
    [
        pytest.param(None, False, None, True, id="first-time"),
        pytest.param(saved(1), False, None, False, id="within-the-period"),
        pytest.param(saved(1), True, None, True, id="full-sync"),
        pytest.param(saved(30), False, None, True, id="period-over"),
        pytest.param(saved(1), False, "annualrevenue", True, id="a-field-to-read-now"),
        pytest.param(saved(1, "annualrevenue"), False, "annualrevenue", False, id="same-field"),
        pytest.param(saved(1, "arr"), False, "annualrevenue", True, id="another-field"),
    ],
)
def test_a_listing_is_read_in_full_when_what_is_stored_may_be_stale(
    cursor, full, fields, reads_in_full
):
    """In full the first time, on --full, every PMSYNC_RECONCILE_HOURS (deletions show only
    then) and when the fields it reads changed (stored records lack the new one); else from
    the cursor, less the lookback; the cursor it saves names the fields."""
    settings = sandbox_settings(lookback_minutes=5)

    read = listing_read(cursor, full, NOW, settings, fields)

    assert read.full == reads_in_full
    if not reads_in_full:
        assert read.since == NOW - timedelta(minutes=15)
    assert read.cursor(NOW).get("fields") == fields


def test_the_crm_revenue_field_is_read_only_when_revenue_comes_from_it():
    """HubSpot's annualrevenue and Salesforce's AnnualRevenue (or the configured field)
    become the account's revenue; by default revenue comes from deals and they are not read."""
    assert sandbox_settings().revenue_property() is None
    settings = sandbox_settings(revenue_from="crm_field", salesforce_revenue_field="ARR__c")
    assert settings.revenue_property() == "annualrevenue"
    company = {
        "id": "7",
        "properties": {
            "name": "Acme",
            "annualrevenue": "1250000.5",
            "hs_lastmodifieddate": NOW.isoformat(),
        },
    }
    assert company_from_raw(company, "https://h", "annualrevenue").revenue == Decimal("1250000.5")
    assert company_from_raw(company, "https://h").revenue is None
    account = {"Id": "001A", "Name": "Acme", "ARR__c": 90000, "SystemModstamp": NOW.isoformat()}
    built = account_from_raw(account, "https://s", settings.revenue_account_field())
    assert built.revenue == Decimal(90000)
