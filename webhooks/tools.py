"""The tools that send webhooks, as data: a route each, and what the route needs. Each
vendor package says it (`Vendor.webhook`); this is the registry's view of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors import registry
from connectors.registry import Webhook
from connectors.webhook import Hint

Tool = Webhook

# tool -> its webhook route, for every tool that sends webhooks.
TOOLS: Mapping[str, Tool] = registry.Table(lambda v: v.webhook)


def hints(tool: str, payload: Any) -> list[Hint]:
    """The records a stored delivery says changed, for the dispatcher to re-read from the
    tool's API. Never raises on odd payloads: what cannot be read gives no hint (the
    scheduled sync is the safety net)."""
    known = TOOLS.get(tool)
    return known.hints(payload) if known else []
