"""The tools that send webhooks, as data: a route each, and what the route needs. Each
vendor package says it (`Vendor.webhook`); this is the registry's view of them."""

from __future__ import annotations

from collections.abc import Mapping

from connectors import registry
from connectors.registry import Webhook, hints

__all__ = ["TOOLS", "Tool", "hints"]

Tool = Webhook

# tool -> its webhook route, for every tool that sends webhooks.
TOOLS: Mapping[str, Tool] = registry.Table(lambda v: v.webhook)
