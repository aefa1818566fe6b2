"""The log of every 429 the sandbox sent, and of the clients that did not wait as told."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Throttle:
    tool: str
    route: str
    time: float
    retry_after: float
    reason: str
    next_request: float | None = None

    @property
    def waited(self) -> float | None:
        return None if self.next_request is None else self.next_request - self.time

    @property
    def violated(self) -> bool:
        waited = self.waited
        return waited is not None and waited < self.retry_after

    def as_dict(self) -> dict[str, Any]:
        waited = self.waited
        return {**asdict(self), "waited": None if waited is None else round(waited, 4)}


class ThrottleLog:
    """Every 429 sent, and for each the arrival of the next request to the same tool: a
    violation is a request that came before the wait the client was told had passed."""

    KEEP = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._log: deque[Throttle] = deque(maxlen=self.KEEP)
            self._violations: deque[Throttle] = deque(maxlen=self.KEEP)
            self._pending: dict[str, list[Throttle]] = {}
            self._count = 0
            self._by_tool: dict[str, int] = {}

    def arrival(self, tool: str, now: float) -> None:
        with self._lock:
            for entry in self._pending.pop(tool, []):
                entry.next_request = now
                if entry.violated:
                    self._violations.append(entry)

    def record(self, tool: str, route: str, now: float, retry_after: float, reason: str) -> None:
        entry = Throttle(tool, route, now, retry_after, reason)
        with self._lock:
            self._log.append(entry)
            self._pending.setdefault(tool, []).append(entry)
            self._count += 1
            self._by_tool[tool] = self._by_tool.get(tool, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttled": self._count,
                "by_tool": dict(self._by_tool),
                "violations": [
                    {
                        "tool": v.tool,
                        "route": v.route,
                        "retry_after": v.retry_after,
                        "waited": round(v.waited or 0.0, 4),
                        "reason": v.reason,
                    }
                    for v in self._violations
                ],
                "pending": sum(len(p) for p in self._pending.values()),
                "log": [entry.as_dict() for entry in self._log],
            }
