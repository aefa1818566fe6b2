"""The tools that send webhooks, as data: a route each, and what the route needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.freshdesk import webhook as freshdesk
from connectors.hubspot import webhook as hubspot
from connectors.intercom import webhook as intercom
from connectors.jira import webhook as jira
from connectors.salesforce import webhook as salesforce
from connectors.webhook import Hint, SignedRequest, Verifier
from connectors.zendesk import webhook as zendesk
from models import Settings
from store.inbox import Delivery


@dataclass(frozen=True)
class Tool:
    name: str
    secret_env: str  # the setting that arms the route; unset, it accepts nothing
    verifier: Callable[[Settings], Verifier | None]
    deliveries: Callable[[Any, SignedRequest], list[Delivery]]
    hints: Callable[[Any], list[Hint]]
    headers: tuple[str, ...]  # delivery headers kept with each event (never signatures)


TOOLS: dict[str, Tool] = {
    "jira": Tool("jira", jira.SECRET_ENV, jira.verifier, jira.deliveries, jira.hints, jira.HEADERS),
    "zendesk": Tool(
        "zendesk",
        zendesk.SECRET_ENV,
        zendesk.verifier,
        zendesk.deliveries,
        zendesk.hints,
        zendesk.HEADERS,
    ),
    "hubspot": Tool(
        "hubspot",
        hubspot.SECRET_ENV,
        hubspot.verifier,
        hubspot.deliveries,
        hubspot.hints,
        hubspot.HEADERS,
    ),
    "intercom": Tool(
        "intercom",
        intercom.SECRET_ENV,
        intercom.verifier,
        intercom.deliveries,
        intercom.hints,
        intercom.HEADERS,
    ),
    "freshdesk": Tool(
        "freshdesk",
        freshdesk.SECRET_ENV,
        freshdesk.verifier,
        freshdesk.deliveries,
        freshdesk.hints,
        freshdesk.HEADERS,
    ),
    "salesforce": Tool(
        "salesforce",
        salesforce.SECRET_ENV,
        salesforce.verifier,
        salesforce.deliveries,
        salesforce.hints,
        salesforce.HEADERS,
    ),
}


def hints(tool: str, payload: Any) -> list[Hint]:
    """The records a stored delivery says changed, for the dispatcher to re-read from the
    tool's API. Never raises on odd payloads: what cannot be read gives no hint (the
    scheduled sync is the safety net)."""
    known = TOOLS.get(tool)
    return known.hints(payload) if known else []
