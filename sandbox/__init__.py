"""A local emulator of Jira Cloud, Zendesk, Intercom, Freshdesk, HubSpot and Salesforce over
one seeded world.

It imports nothing from pmsync: it is an independent copy of the vendors' API contracts.
"""

from sandbox.app import create_app
from sandbox.server import SandboxServer, serve, start_sandbox

__all__ = ["SandboxServer", "create_app", "serve", "start_sandbox"]
