"""ASGI receiver of the tools' webhooks: verify, dedupe, persist to the inbox."""

from connectors.registry import hints
from connectors.webhook import Hint
from webhooks.app import create_app

__all__ = ["Hint", "create_app", "hints"]
