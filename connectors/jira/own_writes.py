"""pmsync's own writes to Jira coming back as webhooks: changelogs that touch only pmsync's
custom fields and threshold labels, the managed comment (its "pmsync demand summary"
marker), the `pmsync.demand` property, and anything authored by the API user (its email or
account id)."""

from __future__ import annotations

from typing import Any

from connectors.jira.client import PROPERTY_KEY
from connectors.jira.write import COMMENT_MARKER
from connectors.registry import OwnWriteContext
from connectors.webhook import body_text, pick


def own_write(payload: Any, context: OwnWriteContext) -> str | None:
    settings = context.settings
    user = pick(payload, "user") or pick(payload, "comment", "author") or {}
    email = (settings.jira_email or "").lower()
    if isinstance(user, dict) and (
        (email and str(user.get("emailAddress", "")).lower() == email)
        or user.get("accountId") in context.account_ids
    ):
        return "authored by pmsync's API user"
    event = str(pick(payload, "webhookEvent") or "")
    if event.startswith("comment_") and COMMENT_MARKER in body_text(
        pick(payload, "comment", "body")
    ):
        return "pmsync's managed comment"
    if str(pick(payload, "property", "key") or "").startswith(PROPERTY_KEY):
        return "pmsync's issue property"
    items = pick(payload, "changelog", "items")
    names = (
        settings.jira_field_requests,
        settings.jira_field_revenue,
        settings.jira_field_pipeline,
    )
    fields = {name.lower() for name in names if name}
    labels = {label for label, _ in settings.demand_label_rules}
    managed = isinstance(items, list) and items and all(_managed(i, fields, labels) for i in items)
    return "only pmsync's fields and labels changed" if managed else None


def _managed(item: Any, fields: set[str], labels: set[str]) -> bool:
    if not isinstance(item, dict):
        return False
    name = str(item.get("field") or "").lower()
    if name in fields:
        return True
    if name == "labels" or item.get("fieldId") == "labels":
        before = set(str(item.get("fromString") or "").split())
        after = set(str(item.get("toString") or "").split())
        return bool(before ^ after) and (before ^ after) <= labels
    return False
