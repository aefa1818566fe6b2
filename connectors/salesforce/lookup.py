"""Salesforce's single-record reads (the recycle bin counts as gone) and its check."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.salesforce import client as salesforce
from connectors.salesforce.client import SalesforceConnector
from connectors.salesforce.schema import API
from connectors.salesforce.settings import SalesforceSettings


def read_opportunity(
    connector: SalesforceConnector, sf_id: str, settings: SalesforceSettings
) -> Any:
    # Queried as a pull reads it: only fields the org has, the amount converted.
    raw = connector.read_opportunity(sf_id)
    if raw is None:
        return None
    return raw, connector.build_opportunity


def read_account(connector: SalesforceConnector, sf_id: str, settings: SalesforceSettings) -> Any:
    if not salesforce.RECORD_ID.match(sf_id):
        return None  # not an id Salesforce could have made: nothing to read
    raw = connector.get(f"{API}/sobjects/Account/{sf_id}")
    if raw.get("IsDeleted"):
        return None
    return raw, partial(salesforce.account_from_raw, site=connector.site)


def check_salesforce(settings: SalesforceSettings) -> str:
    """A token (the client credentials), then the pull's own opportunity query on one
    record (the objects described, only the fields the org has): ok means a pull can read."""
    connector = SalesforceConnector(settings)
    connector.authenticate()
    connector.probe()
    return f"{connector.site}: token issued, opportunities readable"
