"""ASGI receiver of the tools' webhooks: verify, dedupe, persist to the inbox."""

from connectors.webhook import Hint
from webhooks.app import create_app
from webhooks.tools import TOOLS, hints

__all__ = ["TOOLS", "Hint", "create_app", "hints"]
