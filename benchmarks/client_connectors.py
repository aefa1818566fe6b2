"""The connectors that benchmarks/clients.py runs, as data: each one's PyPI package, entry
point, config (the sandbox's credentials, sandbox/server.py CREDENTIALS, and the hosts the
loopback proxy plays) and the streams pmsync uses, each mapped to the sandbox's record kind
whose count it should read (truth())."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

START = "2000-01-01T00:00:00Z"
USER_AGENT = "pmsync-clients-benchmark (demo@example.com)"
SUBDOMAIN = "sandbox"
# The host names the connectors below are configured with (or hard-code).
HOSTS = [
    f"{SUBDOMAIN}.zendesk.com",
    "api.hubapi.com",
    "api.intercom.io",
    f"{SUBDOMAIN}.freshdesk.com",
    f"{SUBDOMAIN}.atlassian.net",
    "login.salesforce.com",
    "test.salesforce.com",
]
SALESFORCE = {"client_id": "demo@example.com", "client_secret": "sandbox"}


@dataclass(frozen=True)
class Connector:
    framework: str  # "singer" or "airbyte"
    vendor: str  # the sandbox mount: zendesk, hubspot, ...
    package: str  # on PyPI
    command: str  # its entry point in the venv's bin/
    config: dict[str, Any]
    # The connector's stream name -> the sandbox's record kind it should read (see truth()).
    streams: dict[str, str]
    python: str = "3.11"  # the interpreter its venv is made with


CONNECTORS = [
    Connector(
        "singer",
        "zendesk",
        "tap-zendesk",
        "tap-zendesk",
        # The tap's streams send `access_token` as an OAuth Bearer token (API tokens only
        # reach its Zenpy client), so the config is an OAuth one.
        {"subdomain": SUBDOMAIN, "access_token": "sandbox", "start_date": START},
        {
            "tickets": "tickets",
            "users": "users",
            "organizations": "organizations",
            "ticket_comments": "comments",
        },
    ),
    Connector(
        "airbyte",
        "zendesk",
        "airbyte-source-zendesk-support",
        "source-zendesk-support",
        {
            "subdomain": SUBDOMAIN,
            "start_date": START,
            "credentials": {
                "credentials": "api_token",
                "email": "demo@example.com",
                "api_token": "sandbox",
            },
        },
        {
            "tickets": "tickets",
            "users": "users",
            "organizations": "organizations",
            "ticket_comments": "comments",
        },
    ),
    Connector(
        "singer",
        "hubspot",
        "tap-hubspot",
        "tap-hubspot",
        # A private app's token goes in `api_key` and is sent as a Bearer token.
        {"api_key": "sandbox", "start_date": START, "user_agent": USER_AGENT},
        {"companies": "companies", "deals": "deals", "engagements": "notes"},
    ),
    Connector(
        "airbyte",
        "hubspot",
        "airbyte-source-hubspot",
        "source-hubspot",
        {
            "start_date": START,
            "credentials": {
                "credentials_title": "Private App Credentials",
                "access_token": "sandbox",
            },
        },
        {"companies": "companies", "deals": "deals", "engagements_notes": "notes"},
    ),
    Connector(
        "singer",
        "intercom",
        "tap-intercom",
        "tap-intercom",
        {"access_token": "sandbox", "start_date": START, "user_agent": USER_AGENT},
        {
            "conversations": "conversations",
            "contacts": "contacts",
            "companies": "companies",
            "admins": "admins",
        },
    ),
    Connector(
        "airbyte",
        "intercom",
        "airbyte-source-intercom",
        "source-intercom",
        {"access_token": "sandbox", "start_date": START},
        {
            "conversations": "conversations",
            "contacts": "contacts",
            "companies": "companies",
            "admins": "admins",
        },
    ),
    Connector(
        "singer",
        "freshdesk",
        "tap-freshdesk",
        "tap-freshdesk",
        {
            "api_key": "sandbox",
            "domain": SUBDOMAIN,
            "start_date": START,
            "user_agent": USER_AGENT,
        },
        {
            "tickets": "tickets",
            "contacts": "contacts",
            "companies": "companies",
            "conversations": "conversations",
        },
    ),
    Connector(
        "airbyte",
        "freshdesk",
        "airbyte-source-freshdesk",
        "source-freshdesk",
        {"api_key": "sandbox", "domain": f"{SUBDOMAIN}.freshdesk.com", "start_date": START},
        {
            "tickets": "tickets",
            "contacts": "contacts",
            "companies": "companies",
            "conversations": "conversations",
        },
        # Its last release allows any airbyte-cdk below 1.0; pip picks 0.90, whose
        # dataclasses Python 3.11 rejects (mutable default). Airbyte's image runs it on 3.10.
        python="3.10",
    ),
    Connector(
        "singer",
        "jira",
        "tap-jira",
        "tap-jira",
        {
            "base_url": f"https://{SUBDOMAIN}.atlassian.net",
            "username": "demo@example.com",
            "password": "sandbox",
            "start_date": START,
            "user_agent": USER_AGENT,
        },
        {"projects": "projects", "issues": "issues", "issue_comments": "comments"},
    ),
    Connector(
        "airbyte",
        "jira",
        "airbyte-source-jira",
        "source-jira",
        {
            "domain": f"{SUBDOMAIN}.atlassian.net",
            "email": "demo@example.com",
            "api_token": "sandbox",
            "start_date": START,
        },
        {"projects": "projects", "issues": "issues", "issue_comments": "comments"},
    ),
    Connector(
        "singer",
        "salesforce",
        "tap-salesforce",
        "tap-salesforce",
        # The tap knows one grant, the refresh token (Salesforce's web server flow).
        {**SALESFORCE, "refresh_token": "sandbox", "start_date": START, "api_type": "REST"},
        {"Account": "Account", "Opportunity": "Opportunity"},
    ),
    Connector(
        "airbyte",
        "salesforce",
        "airbyte-source-salesforce",
        "source-salesforce",
        {
            **SALESFORCE,
            "refresh_token": "sandbox",
            "start_date": START,
            "is_sandbox": False,
            "auth_type": "Client",
        },
        {"Account": "Account", "Opportunity": "Opportunity"},
    ),
]


def truth(state: Any) -> dict[str, dict[str, int]]:
    """Each vendor's record counts as the sandbox holds them (sandbox.state.SandboxState)."""
    with state.lock:
        return {
            "zendesk": {
                "tickets": len(state.zendesk.tickets),
                "users": len(state.zendesk.users),
                "organizations": len(state.zendesk.organizations),
                "comments": sum(map(len, state.zendesk.comments.values())),
            },
            "hubspot": {k: len(v) for k, v in state.hubspot.objects.items()},
            "intercom": {
                "conversations": len(state.intercom.conversations),
                "contacts": len(state.intercom.contacts),
                "companies": len(state.intercom.companies),
                "admins": len(state.intercom.admins),
            },
            "freshdesk": {
                "tickets": len(state.freshdesk.tickets),
                "contacts": len(state.freshdesk.contacts),
                "companies": len(state.freshdesk.companies),
                # Each ticket's description is its first message; conversations are replies
                # and notes after it.
                "conversations": sum(map(len, state.freshdesk.conversations.values())),
            },
            "jira": {
                "projects": 1,
                "issues": len(state.jira.issues),
                "comments": sum(map(len, state.jira.comments.values())),
            },
            "salesforce": {k: len(v) for k, v in state.salesforce.records.items()},
        }
