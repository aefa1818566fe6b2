"""Requests the sandbox served, per tool and per route (`/_sandbox/requests`), counted by
every route (sandbox.web.endpoint) into the sandbox's state."""

import json
import threading
from typing import Any

TOOLS = ("jira", "zendesk", "hubspot", "intercom", "freshdesk", "salesforce")


class RequestCounters:
    """Requests per tool and per `METHOD /route/{template}`, for tests and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._tools: dict[str, dict[str, Any]] = {
                tool: {"total": 0, "writes": 0, "routes": {}} for tool in TOOLS
            }

    def hit(self, tool: str, route: str, write: bool) -> None:
        with self._lock:
            counts = self._tools.setdefault(tool, {"total": 0, "writes": 0, "routes": {}})
            counts["total"] += 1
            counts["writes"] += int(write)
            counts["routes"][route] = counts["routes"].get(route, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._tools))
