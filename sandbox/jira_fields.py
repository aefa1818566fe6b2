"""The system fields and references every Jira Cloud issue carries beyond what the sandbox
stores: time tracking, watches, votes, the `self` and avatar links of users, projects,
statuses and components (shaped as recorded answers of real sites show them)."""

from typing import Any

AVATAR_SIZES = ("48x48", "24x24", "16x16", "32x32")
USER_FIELDS = ("assignee", "reporter", "creator")


def avatars(url: str) -> dict[str, str]:
    return {size: f"{url}?size={size}" for size in AVATAR_SIZES}


def user_ref(user: Any, base: str, version: str = "3") -> Any:
    """A user as Jira serves one: with its `self` link, avatars and (where the profile
    shows it) email address."""
    if not isinstance(user, dict) or "accountId" not in user:
        return user
    account = user["accountId"]
    name = str(user.get("displayName", "user")).lower().replace(" ", ".")
    return {
        "self": f"{base}/rest/api/{version}/user?accountId={account}",
        "accountId": account,
        "emailAddress": user.get("emailAddress") or f"{name}@example.com",
        "avatarUrls": avatars(f"{base}/secure/useravatar/{account}"),
        **{k: v for k, v in user.items() if k not in ("self", "accountId", "emailAddress")},
    }


def _with_self(value: Any, url: str, **extra: Any) -> Any:
    return {"self": url, **extra, **value} if isinstance(value, dict) else value


def system_fields(
    fields: dict[str, Any], issue_id: str, key: str, base: str, version: str
) -> dict[str, Any]:
    """`fields` with the references completed and Jira's other system fields added."""
    api = f"{base}/rest/api/{version}"
    out = dict(fields)
    for name in USER_FIELDS:
        if name in out:
            out[name] = user_ref(out[name], base, version)
    out.setdefault("creator", out.get("reporter"))
    project = out.get("project")
    if isinstance(project, dict):
        out["project"] = _with_self(
            project,
            f"{api}/project/{project.get('id')}",
            avatarUrls=avatars(f"{api}/universal_avatar/view/type/project/avatar/10400"),
        )
    status = out.get("status")
    if isinstance(status, dict):
        category = status.get("statusCategory")
        out["status"] = _with_self(
            {
                **status,
                **(
                    {
                        "statusCategory": _with_self(
                            category, f"{api}/statuscategory/{category.get('id')}"
                        )
                    }
                    if isinstance(category, dict)
                    else {}
                ),
            },
            f"{api}/status/{status.get('id')}",
            description="",
            iconUrl=f"{base}/",
        )
    for name, path, icon in (
        ("issuetype", "issuetype", "images/icons/issuetypes/story.svg"),
        ("priority", "priority", "images/icons/priorities/medium.svg"),
    ):
        if isinstance(out.get(name), dict):
            extra = {"iconUrl": f"{base}/{icon}"}
            if name == "issuetype":
                extra["description"] = ""
            out[name] = _with_self(out[name], f"{api}/{path}/{out[name].get('id')}", **extra)
    for name, path in (("components", "component"), ("fixVersions", "version")):
        if isinstance(out.get(name), list):
            out[name] = [
                _with_self(item, f"{api}/{path}/{item.get('id')}", description="")
                for item in out[name]
            ]
    defaults: dict[str, Any] = {
        "statuscategorychangedate": out.get("updated"),
        "development": "",
        "timespent": None,
        "aggregatetimespent": None,
        "timeestimate": None,
        "aggregatetimeestimate": None,
        "timeoriginalestimate": None,
        "aggregatetimeoriginalestimate": None,
        "workratio": -1,
        "watches": {"self": f"{api}/issue/{key}/watchers", "watchCount": 1, "isWatching": False},
        "lastViewed": None,
        "issuerestriction": {"issuerestrictions": {}, "shouldDisplay": False},
        "versions": [],
        "issuelinks": [],
        "attachment": [],
        "subtasks": [],
        "security": None,
        "environment": None,
        "duedate": None,
        "timetracking": {},
        "aggregateprogress": {"progress": 0, "total": 0},
        "progress": {"progress": 0, "total": 0},
        "votes": {"self": f"{api}/issue/{key}/votes", "votes": 0, "hasVoted": False},
        "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
    }
    for name, value in defaults.items():
        out.setdefault(name, value)
    return out
