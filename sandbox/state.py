"""Everything a running sandbox holds: the world, each tool's records, request counts and
the behaviour switches tests turn (search lag, malformed records, Salesforce's daily limit)."""

import threading
import time
from datetime import datetime
from typing import Any

from sandbox import (
    freshdesk_data,
    hubspot_data,
    intercom_data,
    jira_data,
    salesforce_data,
    zendesk_data,
)
from sandbox.counters import RequestCounters
from sandbox.tenants import Tenant, tenant_named
from sandbox.world import World, generate
from sandbox.zendesk_messy import add_messy

SETTINGS = {  # name -> (type, lowest allowed, highest allowed)
    "search_lag_s": (float, 0.0, 3600.0),
    "malformed_rate": (float, 0.0, 1.0),
    "salesforce_daily_limit": (int, 0, 10**9),
    "salesforce_session_s": (float, 1.0, 10**6),
    "zendesk_export_delay_s": (float, 0.0, 3600.0),
}


class SandboxState:
    def __init__(
        self,
        seed: int = 7,
        now: datetime | None = None,
        *,
        scale: int = 1,
        search_lag_s: float = 0.0,
        malformed_rate: float = 0.0,
        tenant: str | Tenant = "full",
    ) -> None:
        self.lock = threading.RLock()
        # Which documented variation of a customer's accounts this sandbox shows.
        self.tenant: Tenant = tenant_named(tenant) if isinstance(tenant, str) else tenant
        self.counters = RequestCounters()
        # Search indexes (Jira, HubSpot, Intercom) lag behind writes by this many seconds.
        self.search_lag_s = search_lag_s
        # Share of feedback and deal records served with one broken field.
        self.malformed_rate = malformed_rate
        self.salesforce_daily_limit = 100_000
        self.salesforce_session_s = 7200.0  # an OAuth access token's life
        # Zendesk's incremental exports leave out the changes of the last minute (60 on the
        # real service). Its cursor is (second, id): without the delay, a ticket changed
        # later in the second a cursor was taken, with a lower id, would sort before the
        # cursor and never be exported. 0 (the default) serves every change at once.
        self.zendesk_export_delay_s = 0.0
        self.load(seed, now, scale)

    def load(self, seed: int, now: datetime | None = None, scale: int | None = None) -> None:
        """(Re)generate the world; records written through the APIs are discarded."""
        if scale is None:
            scale = self.scale if hasattr(self, "scale") else 1
        world = generate(seed, now, scale)
        with self.lock:
            self.seed: int = seed
            self.scale: int = scale
            self.world: World = world
            self.jira: jira_data.JiraStore = jira_data.build(world, self.tenant)
            self.zendesk: zendesk_data.ZendeskStore = zendesk_data.build(world)
            if self.tenant.messy:  # on the built store: sandbox.zendesk_messy builds on it
                add_messy(self.zendesk, world.now)
            self.hubspot: hubspot_data.HubSpotStore = hubspot_data.build(world, self.tenant)
            self.intercom: intercom_data.IntercomStore = intercom_data.build(world)
            self.freshdesk: freshdesk_data.FreshdeskStore = freshdesk_data.build(world)
            self.salesforce: salesforce_data.SalesforceStore = salesforce_data.build(world)
            self._written: dict[tuple[str, str], float] = {}

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS}

    def check(self, changes: dict[str, Any]) -> str | None:
        """Why these settings cannot be applied, or None when they can."""
        for name, value in changes.items():
            if name not in SETTINGS:
                return f"unknown setting {name!r}; expected some of {sorted(SETTINGS)}"
            kind, low, high = SETTINGS[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{name} must be a number"
            if not low <= value <= high or (kind is int and value != int(value)):
                return f"{name} must be a {kind.__name__} between {low} and {high}"
        return None

    def configure(self, changes: dict[str, Any]) -> str | None:
        """Apply settings; an error message (and nothing applied) when one is invalid."""
        problem = self.check(changes)
        if problem:
            return problem
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, SETTINGS[name][0](value))
        return None

    def touch(self, tool: str, record_id: Any) -> None:
        """Note a write, for the search lag: the index sees it `search_lag_s` later."""
        self._written[(tool, str(record_id))] = time.monotonic()

    def indexed(self, tool: str, record_id: Any) -> bool:
        """Whether a tool's search index has caught up with the record's last write."""
        if self.search_lag_s <= 0:
            return True
        written = self._written.get((tool, str(record_id)))
        return written is None or time.monotonic() - written >= self.search_lag_s
