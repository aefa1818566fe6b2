"""Jira, the tracker: the issues demand is counted for and published onto."""

from __future__ import annotations

from typing import Any

from connectors.base import configured_site
from connectors.jira import client, webhook
from connectors.jira.capabilities import capabilities
from connectors.jira.lookup import account_ids, check_jira, read_issue
from connectors.jira.own_writes import own_write
from connectors.jira.publishing import JiraPublishing
from connectors.jira.remote_links import remote_link_from_raw, sites
from connectors.jira.settings import JiraSettings
from connectors.registry import TRACKER, Reader, Vendor, Webhook
from models import Record


def _remote_link(raw: dict[str, Any], context: dict[str, Any], settings: JiraSettings) -> Record:
    return remote_link_from_raw(raw, context["issue_key"], sites(settings))


VENDOR = Vendor(
    "jira",
    TRACKER,
    client.JiraConnector,
    "jira_url",
    check=check_jira,
    capabilities=capabilities,
    lookups={"issue": Reader("issue", read_issue)},
    webhook=Webhook.of(webhook),
    own_write=own_write,
    own_identity=account_ids,
    publishing=JiraPublishing,
    title="Jira",
    shaping=frozenset(
        {
            "jira_projects",
            "jira_field_requests",
            "jira_field_revenue",
            "jira_field_pipeline",
            "jira_pipeline_carries",
        }
    ),
    rebuilders={
        "issue": lambda raw, ctx, s: client.issue_from_raw(
            raw, configured_site(s.jira_url, "jira")
        ),
        "tool_link": _remote_link,
    },
    needs_context=frozenset({"tool_link"}),  # the issue whose remote link it is
)
