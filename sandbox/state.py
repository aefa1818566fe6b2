"""Everything a running sandbox holds: the world, each tool's records and request counts."""

import threading
from datetime import datetime

from sandbox import hubspot_data, jira_data, zendesk_data
from sandbox.web import RequestCounters
from sandbox.world import World, generate


class SandboxState:
    def __init__(self, seed: int = 7, now: datetime | None = None) -> None:
        self.lock = threading.RLock()
        self.counters = RequestCounters()
        self.load(seed, now)

    def load(self, seed: int, now: datetime | None = None) -> None:
        """(Re)generate the world; records written through the APIs are discarded."""
        world = generate(seed, now)
        with self.lock:
            self.seed: int = seed
            self.world: World = world
            self.jira = jira_data.build(world)
            self.zendesk = zendesk_data.build(world)
            self.hubspot = hubspot_data.build(world)
