"""What each vendor sends when one of its records changes: the webhook bodies, built from a
record before and after the change (None before: created; None after: deleted). This module
holds what the vendors share and Jira's events; `webhook_events_desk` the help desks' and
`webhook_events_crm` the CRMs'.

- Jira admin webhooks: `jira:issue_updated` with a `changelog` of the fields that moved,
  `comment_created`/`comment_updated`, `issue_property_set`; bodies in the REST v2 shape
  (plain-text comments), as Jira sends them.
- Zendesk event webhooks (`zendesk_event_version` 2022-11-06): one event per kind of
  change, `subject: zen:ticket:<id>`, the ticket in `detail`.
- HubSpot webhooks v3: one array of events, one per changed property.
- Intercom notification events: `topic` and the conversation in `data.item`.
- Freshdesk and Salesforce send what their automation's author wrote: here a Freshdesk
  "Trigger webhook" template with the usual placeholders, and a Salesforce record-triggered
  flow's callout with the records as sObjects (`new` and `old`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.jira_data import (
    API_USER,
    NUMBER_FIELDS,
    OTHER_CUSTOM_FIELDS,
    adf_text,
    person,
    render_comment,
    render_issue,
)
from sandbox.webhooks_out import Delivery, new_delivery_id

API, PERSON = "api", "person"
# A record as it was before a change or is after it; None before a create, after a delete.
Version = dict[str, Any] | None
JIRA_PERSON = person("Dana Whitfield")
# Jira's changelog names system fields by their lower-case id; custom fields by name.
CUSTOM_NAMES = {**NUMBER_FIELDS, **{k: v[0] for k, v in OTHER_CUSTOM_FIELDS.items()}}
UNLOGGED = {"updated", "comment", "lastViewed", "watches", "votes"}


def change_kind(before: Any, after: Any) -> str:
    """What happened to a record, as the vendors' event names say it."""
    return "created" if before is None else "deleted" if after is None else "updated"


def now_ms() -> int:
    return int(time.time() * 1000)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- Jira ----------------------------------------------------------------------------------


def _jira_user(actor: str) -> dict[str, Any]:
    return dict(API_USER) if actor == API else dict(JIRA_PERSON)


def _display(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_text(value)
        return str(value.get("name") or value.get("value") or value.get("key") or "")
    if isinstance(value, list):
        return " ".join(filter(None, (_display(v) for v in value)))
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def _value_id(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    if isinstance(value, list):
        ids = [str(v["id"]) for v in value if isinstance(v, dict) and v.get("id") is not None]
        return ", ".join(ids) or None
    return None


def changelog(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Jira's changelog items between two versions of an issue's fields."""
    items = []
    for fid in sorted(set(before) | set(after)):
        old, new = before.get(fid), after.get(fid)
        if fid in UNLOGGED or old == new:
            continue
        custom = fid.startswith("customfield_")
        items.append(
            {
                "field": CUSTOM_NAMES.get(fid, fid) if custom else fid,
                "fieldtype": "custom" if custom else "jira",
                "fieldId": fid,
                "from": _value_id(old),
                "fromString": _display(old),
                "to": _value_id(new),
                "toString": _display(new),
            }
        )
    return items


def _jira_issue(issue: dict[str, Any], base: str) -> dict[str, Any]:
    return render_issue(issue, [], "2", base, (True, set(), {"comment"}))


def remote_link_logged(link: Mapping[str, Any]) -> dict[str, Any]:
    """The changelog item Jira writes when a remote link is added or changed."""
    target = link.get("object")
    title = target.get("title") if isinstance(target, Mapping) else None
    return {
        "field": "RemoteIssueLink",
        "fieldtype": "jira",
        "fieldId": "RemoteIssueLink",
        "from": None,
        "fromString": None,
        "to": str(link.get("id")),
        "toString": f'This issue links to "{title} (Web Link)"',
    }


def jira_issue(
    before: Version,
    after: Version,
    actor: str,
    base: str,
    logged: tuple[dict[str, Any], ...] = (),
) -> list[Delivery]:
    """`logged`: history items that are not field changes, such as a new remote link."""
    issue = after or before
    if issue is None:
        return []
    record = [f"jira/issue/{issue.get('key')}"]
    body: dict[str, Any] = {"timestamp": now_ms(), "user": _jira_user(actor)}
    if after is None:
        body.update(webhookEvent="jira:issue_deleted", issue_event_type_name="issue_deleted")
    elif before is None:
        body.update(webhookEvent="jira:issue_created", issue_event_type_name="issue_created")
    else:
        items = changelog(before.get("fields") or {}, after.get("fields") or {}) + list(logged)
        if not items:
            return []
        moved = any(item["fieldId"] == "status" for item in items)
        body.update(
            webhookEvent="jira:issue_updated",
            issue_event_type_name="issue_generic" if moved else "issue_updated",
            changelog={"id": str(uuid.uuid4().int % 10**8), "items": items},
        )
    body["issue"] = _jira_issue(issue, base)
    return [Delivery("jira", body["webhookEvent"], new_delivery_id("jira"), body, record, actor)]


def jira_comment(
    event: str, issue: dict[str, Any], comment: dict[str, Any], actor: str, base: str
) -> list[Delivery]:
    body = {
        "timestamp": now_ms(),
        "webhookEvent": event,
        "comment": render_comment(comment, str(issue.get("id")), "2", base),
        "issue": {
            "id": str(issue.get("id")),
            "self": f"{base}/rest/api/2/issue/{issue.get('id')}",
            "key": issue.get("key"),
            "fields": {
                k: (issue.get("fields") or {}).get(k) for k in ("summary", "status", "issuetype")
            },
        },
    }
    record = [f"jira/issue/{issue.get('key')}"]
    return [Delivery("jira", event, new_delivery_id("jira"), body, record, actor)]


def jira_property(issue: dict[str, Any], name: str, value: Any, actor: str) -> list[Delivery]:
    body = {
        "timestamp": now_ms(),
        "webhookEvent": "issue_property_set",
        "user": _jira_user(actor),
        "property": {"key": name, "value": value},
        "issue": {"id": str(issue.get("id")), "key": issue.get("key")},
    }
    record = [f"jira/issue/{issue.get('key')}"]
    return [Delivery("jira", "issue_property_set", new_delivery_id("jira"), body, record, actor)]
