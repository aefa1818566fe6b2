"""Jira Cloud's records: the field catalogue, issues as Jira stores them, and rendering for
API v2 (plain-text bodies) and v3 (Atlassian Document Format)."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.catalog import FEATURES
from sandbox.jira_fields import system_fields, user_ref
from sandbox.tenants import Tenant
from sandbox.timefmt import epoch_ms, jira_time
from sandbox.world import PROJECT, World

STATUSES = {
    "To Do": {
        "id": "10000",
        "name": "To Do",
        "statusCategory": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    },
    "In Progress": {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {
            "id": 4,
            "key": "indeterminate",
            "colorName": "yellow",
            "name": "In Progress",
        },
    },
    "Done": {
        "id": "10001",
        "name": "Done",
        "statusCategory": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
    },
}
COMPONENT_IDS = {
    name: str(10100 + i) for i, name in enumerate(sorted({f.component for f in FEATURES}))
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
NUMBER_FIELDS = {
    "customfield_10050": "Customer Requests",
    "customfield_10051": "Customer Revenue",
    "customfield_10052": "Open Pipeline",
    "customfield_10016": "Story point estimate",
}
OTHER_CUSTOM_FIELDS = {
    "customfield_10020": ("Sprint", "array"),
    "customfield_10014": ("Epic Link", "any"),
}
SYSTEM_FIELDS = {  # id -> (name, schema type, navigable)
    "issuekey": ("Key", None, True),
    "summary": ("Summary", "string", True),
    "description": ("Description", "string", True),
    "status": ("Status", "status", True),
    "labels": ("Labels", "array", True),
    "components": ("Components", "array", True),
    "fixVersions": ("Fix versions", "array", True),
    "project": ("Project", "project", True),
    "issuetype": ("Issue Type", "issuetype", True),
    "priority": ("Priority", "priority", True),
    "assignee": ("Assignee", "user", True),
    "reporter": ("Reporter", "user", True),
    "created": ("Created", "datetime", True),
    "updated": ("Updated", "datetime", True),
    "resolution": ("Resolution", "resolution", True),
    "resolutiondate": ("Resolved", "datetime", True),
    "comment": ("Comment", "comments-page", False),
}
PROJECT_REF = {
    "id": "10000",
    "key": PROJECT,
    "name": "Acme Analytics",
    "projectTypeKey": "software",
    "simplified": False,
}
# The Jira apps of the support tools and CRMs, as their remote links name themselves.
REMOTE_APPS = {
    "zendesk": ("com.zendesk.jira", "Zendesk"),
    "intercom": ("com.intercom.jira", "Intercom"),
    "freshdesk": ("com.freshdesk.jira", "Freshdesk"),
    "hubspot": ("com.hubspot.jira", "HubSpot"),
    "salesforce": ("com.salesforce.jira", "Salesforce"),
}
HUBSPOT_PORTAL_ID = 4242
# Where each tool's web UI shows a record, under the tool's sandbox mount. Planted links
# store this path; the API and the issue page serve it absolute, on the sandbox's own host.
RECORD_PAGES = {
    "zendesk": "/zendesk/agent/tickets/{id}",
    "intercom": "/intercom/a/inbox/sandbox/inbox/conversation/{id}",
    "freshdesk": "/freshdesk/a/tickets/{id}",
    "hubspot": f"/hubspot/contacts/{HUBSPOT_PORTAL_ID}/record/0-3/{{id}}",
    "salesforce": "/salesforce/lightning/r/Opportunity/{id}/view",
}
API_USER = {
    "accountId": "712020:5b10ac8d-82e0-4b22-8cc7-d4ef5a1c0d9e",
    "emailAddress": "demo@example.com",
    "displayName": "Demo Integration",
    "active": True,
    "timeZone": "Etc/UTC",
    "accountType": "atlassian",
}


@dataclass
class JiraStore:
    issues: dict[str, dict[str, Any]]  # key -> {"id", "key", "fields"} as Jira stores it
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    remote_links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 10100
    projects: dict[str, dict[str, Any]] = field(default_factory=lambda: {PROJECT: PROJECT_REF})
    # Issue key -> its changelog histories (`expand=changelog`), oldest first.
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The mail watchers got, one entry per notification: (issue key, event). Quiet edits
    # (notifyUsers=false, admins only) send none.
    mail: list[tuple[str, str]] = field(default_factory=list)

    def find(self, key_or_id: str) -> dict[str, Any] | None:
        """Jira accepts an issue's key or its numeric id wherever it takes either."""
        found = self.issues.get(key_or_id.upper())
        if found is None and key_or_id.isdigit():
            found = next((i for i in self.issues.values() if str(i.get("id")) == key_or_id), None)
        return found

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)


def field_catalogue() -> list[dict[str, Any]]:
    rows = []
    for fid, (name, kind, navigable) in SYSTEM_FIELDS.items():
        rows.append(
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": navigable,
                "searchable": True,
                "clauseNames": [fid] if fid != "issuekey" else ["id", "issue", "key"],
                **({"schema": {"type": kind, "system": fid}} if kind else {}),
            }
        )
    custom = {fid: (name, "number") for fid, name in NUMBER_FIELDS.items()}
    for fid, (name, kind) in {**custom, **OTHER_CUSTOM_FIELDS}.items():
        number = int(fid.rsplit("_", 1)[1])
        plugin = "float" if kind == "number" else "gh-sprint" if kind == "array" else "gh-epic"
        rows.append(
            {
                "id": fid,
                "key": fid,
                "name": name,
                "untranslatedName": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": {
                    "type": kind,
                    "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{plugin}",
                    "customId": number,
                },
            }
        )
    return rows


def person(name: str) -> dict[str, Any]:
    digest = hashlib.sha1(name.encode()).hexdigest()
    return {
        "accountId": f"5b{digest[:22]}",
        "displayName": name,
        "active": True,
        "timeZone": "Europe/London",
        "accountType": "atlassian",
    }


# Custom fields by the names JQL's ORDER BY takes (lower-cased): "customer revenue", "cf[10051]".
SORTABLE_FIELDS = {
    clause.lower(): fid
    for fid, name in {**NUMBER_FIELDS, **{k: v[0] for k, v in OTHER_CUSTOM_FIELDS.items()}}.items()
    for clause in (name, f"cf[{fid.rsplit('_', 1)[1]}]")
}
FIELD_NAMES = {
    **{fid: spec[0] for fid, spec in SYSTEM_FIELDS.items()},
    **NUMBER_FIELDS,
    **{fid: spec[0] for fid, spec in OTHER_CUSTOM_FIELDS.items()},
}


def _status_history(key: str, status: str, when: datetime) -> list[dict[str, Any]]:
    """How an issue reached its status: one change per step of the simple workflow."""
    steps = list(STATUSES)
    reached = steps[: steps.index(status) + 1]
    digest = int(hashlib.sha1(key.encode()).hexdigest()[:6], 16)
    return [
        {
            "id": str(20000 + digest % 10000 * 3 + n),
            "author": person("Dana Whitfield"),
            "created": jira_time(when),
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": STATUSES[before]["id"],
                    "fromString": before,
                    "to": STATUSES[after]["id"],
                    "toString": after,
                }
            ],
        }
        for n, (before, after) in enumerate(zip(reached, reached[1:], strict=False))
    ]


def build(world: World, tenant: Tenant | None = None) -> JiraStore:
    issues: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, Any]]] = {}
    current = (world.now.year, (world.now.month - 1) // 3 + 1)  # versions ship quarterly
    for issue in world.issues:
        version = None
        if issue.fix_version:  # named "<year>.<quarter>"
            year, quarter = issue.fix_version.split(".")
            version = {
                "id": str(10000 + int(year) % 100 * 10 + int(quarter)),
                "name": issue.fix_version,
                "archived": False,
                "released": (int(year), int(quarter)) < current,
            }
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": adf(issue.description),
            "status": STATUSES[issue.status],
            "labels": list(issue.labels),
            "components": [{"id": COMPONENT_IDS[issue.component], "name": issue.component}],
            "fixVersions": [version] if version else [],
            "project": PROJECT_REF,
            "issuetype": {"id": "10001", "name": "Story", "subtask": False, "hierarchyLevel": 0},
            "priority": {"id": PRIORITIES[issue.priority], "name": issue.priority},
            "assignee": person(issue.assignee),
            "reporter": person("Dana Whitfield"),
            "resolution": {"id": "10000", "name": "Done"} if issue.resolved else None,
            "resolutiondate": jira_time(issue.resolved) if issue.resolved else None,
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
        }
        fields.update(dict.fromkeys([*NUMBER_FIELDS, *OTHER_CUSTOM_FIELDS]))
        issues[issue.key] = {"id": issue.id, "key": issue.key, "fields": fields}
        history[issue.key] = _status_history(issue.key, issue.status, issue.updated)
    store = JiraStore(issues, remote_links=_planted_remote_links(world), history=history)
    store.next_id = max([store.next_id, *(link.id for link in world.remote_links)])
    if tenant is not None and tenant.messy:
        _make_messy(store, world)
    return store


def _make_messy(store: JiraStore, world: World) -> None:
    """What real Jira sites hold that a tidy one does not, on issues that are done (so no
    feedback is text-matched to them): the project is a Jira Service Management one, an
    issue has no description and no components, descriptions carry mentions, emoji (a
    custom one has no character), smart links, status lozenges, dates and non-ASCII text."""
    store.projects[PROJECT] = {**PROJECT_REF, "projectTypeKey": "service_desk"}
    for issue in store.issues.values():
        issue["fields"]["project"] = store.projects[PROJECT]
    done = [i for i in world.issues if i.status == "Done"]
    bare, rich, custom = (store.issues[i.key]["fields"] for i in done[:3])
    bare.update(description=None, components=[])
    reviewer = person("Zoë Ångström")
    rich["description"]["content"].append(
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Rétention validée par "},
                {
                    "type": "mention",
                    "attrs": {"id": reviewer["accountId"], "text": "@Zoë Ångström"},
                },
                {"type": "text", "text": " "},
                {
                    "type": "emoji",
                    "attrs": {"shortName": ":tada:", "id": "1f389", "text": "🎉"},
                },
                {"type": "hardBreak"},
                {"type": "text", "text": "Spec (東京チーム): "},
                {"type": "inlineCard", "attrs": {"url": "https://example.com/specs/retention"}},
                {"type": "text", "text": " "},
                {
                    "type": "status",
                    "attrs": {"text": "SHIPPED", "color": "green", "localId": "a1b2"},
                },
                {"type": "text", "text": " on "},
                {"type": "date", "attrs": {"timestamp": str(epoch_ms(world.now))}},
            ],
        }
    )
    custom["description"]["content"].append(
        {
            "type": "paragraph",
            "content": [
                {"type": "mention", "attrs": {"id": reviewer["accountId"]}},
                {"type": "text", "text": " "},
                {"type": "emoji", "attrs": {"shortName": ":party-parrot:", "id": "atlassian-1"}},
            ],
        }
    )


def _planted_remote_links(world: World) -> dict[str, list[dict[str, Any]]]:
    titles = {(f.tool, str(f.id)): f.subject for f in world.feedback}
    titles.update({(d.crm, d.id): d.name for d in world.deals})
    links: dict[str, list[dict[str, Any]]] = {}
    for link in world.remote_links:
        app_type, app_name = REMOTE_APPS[link.tool]
        links.setdefault(link.issue_key, []).append(
            {
                "id": link.id,
                "globalId": f"{app_type}:{link.tool}:{link.record_id}",
                "application": {"type": app_type, "name": app_name},
                "relationship": "mentioned in",
                "object": {
                    "url": RECORD_PAGES[link.tool].format(id=link.record_id),
                    "title": titles[(link.tool, link.record_id)],
                    "summary": f"{app_name} record {link.record_id}",
                    "icon": {"url16x16": f"/{link.tool}/favicon.ico", "title": app_name},
                    "status": {
                        "resolved": False,
                        "icon": {
                            "url16x16": f"/{link.tool}/favicon.ico",
                            "title": "Open",
                            "link": RECORD_PAGES[link.tool].format(id=link.record_id),
                        },
                    },
                },
            }
        )
    return links


def render_remote_link(link: dict[str, Any], site: str) -> dict[str, Any]:
    """A stored remote link as served: a planted link's path made absolute on `site`, the
    sandbox's root URL. URLs that clients posted are theirs and stay as they are."""
    target = link.get("object")
    if not isinstance(target, dict):
        return dict(link)
    url = target.get("url")
    if not (isinstance(url, str) and url.startswith("/") and not url.startswith("//")):
        return dict(link)
    served = {**target, "url": site + url}
    for holder in ("icon", "status"):  # the planted icons are on the sandbox too
        part = served.get(holder)
        if holder == "status" and isinstance(part, dict):
            icon = part["icon"]
            part = {
                **part,
                "icon": {**icon, "url16x16": site + icon["url16x16"], "link": site + icon["link"]},
            }
        elif isinstance(part, dict):
            part = {**part, "url16x16": site + part["url16x16"]}
        served[holder] = part
    return {**link, "object": served}


def adf(text: str) -> dict[str, Any]:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs
        ],
    }


def is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


INLINE_TEXT = {"mention": "text", "emoji": "shortName", "inlineCard": "url", "status": "text"}


def adf_text(node: Any) -> str:
    """Plain text of an ADF document, as API v2 shows rich-text fields."""
    if not isinstance(node, dict):
        return node if isinstance(node, str) else ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    given = node.get("attrs")
    attrs = given if isinstance(given, dict) else {}
    if node.get("type") in INLINE_TEXT:
        return str(attrs.get(INLINE_TEXT[str(node.get("type"))]) or "")
    if node.get("type") == "hardBreak":
        return "\n"
    parts = [adf_text(child) for child in node.get("content", [])]
    return ("\n\n" if node.get("type") == "doc" else "").join(parts)


def body_for(version: str, body: Any) -> Any:
    """Stored rich text is ADF; v2 speaks plain text (wiki markup)."""
    return adf_text(body) if version == "2" and isinstance(body, dict) else body


def render_comment(
    comment: dict[str, Any], issue_id: str, version: str, base: str, properties: bool = False
) -> dict[str, Any]:
    """A stored comment as served; its entity properties only with `expand=properties`."""
    stored = comment.get("properties") or {}
    body = {
        "self": f"{base}/rest/api/{version}/issue/{issue_id}/comment/{comment['id']}",
        **{k: v for k, v in comment.items() if k != "properties"},
        "author": user_ref(comment.get("author"), base, version),
        "updateAuthor": user_ref(comment.get("updateAuthor"), base, version),
        "body": body_for(version, comment.get("body")),
        # Internal on a service-desk project when it carries sd.public.comment internal.
        "jsdPublic": not (stored.get("sd.public.comment") or {}).get("internal", False),
    }
    if properties:
        body["properties"] = [{"key": k, "value": v} for k, v in stored.items()]
    return body


def selection(requested: list[str], default: str) -> tuple[bool, set[str], set[str]]:
    """(all fields?, wanted ids, excluded ids) from a Jira `fields` parameter."""
    values = requested or [default]
    everything = any(v in ("*all", "*navigable") for v in values)
    wanted = {v for v in values if not v.startswith(("*", "-"))}
    return everything, wanted, {v[1:] for v in values if v.startswith("-")}


def render_issue(
    issue: dict[str, Any],
    comments: list[dict[str, Any]],
    version: str,
    base: str,
    chosen: tuple[bool, set[str], set[str]],
) -> dict[str, Any]:
    everything, wanted, excluded = chosen
    issue_id = str(issue.get("id"))
    if not everything and wanted <= {"id", "key"}:
        return {"id": issue_id, **({"key": issue.get("key")} if "key" in wanted else {})}
    stored = issue.get("fields")
    fields = dict(stored) if isinstance(stored, dict) else {}
    rendered = [render_comment(c, issue_id, version, base) for c in comments]
    fields["comment"] = {
        "comments": rendered,
        "self": f"{base}/rest/api/{version}/issue/{issue_id}/comment",
        "maxResults": len(rendered),
        "total": len(rendered),
        "startAt": 0,
    }
    if "description" in fields:
        fields["description"] = body_for(version, fields["description"])
    fields = system_fields(fields, issue_id, str(issue.get("key")), base, version)
    keep = {k: v for k, v in fields.items() if (everything or k in wanted) and k not in excluded}
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
        "versionedRepresentations",
        "id": issue_id,
        "self": f"{base}/rest/api/{version}/issue/{issue_id}",
        "key": issue.get("key"),
        "fields": keep,
    }
