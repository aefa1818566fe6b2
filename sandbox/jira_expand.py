"""What `expand` adds to an issue in search results and issue reads: `changelog`,
`transitions`, `renderedFields` (and `names`), shaped as Jira Cloud's REST v3 returns them."""

from datetime import datetime
from typing import Any

from sandbox.adf_html import render
from sandbox.jira_data import STATUSES
from sandbox.timefmt import parse_time

# The simplified workflow of a team-managed project: every status reachable from any other
# (global transitions), with Jira's usual ids.
TRANSITION_IDS = {"To Do": "11", "In Progress": "21", "Done": "31"}
EXPANDABLE = {"changelog", "transitions", "renderedFields", "names", "schema", "operations"}


def wanted(value: Any) -> set[str]:
    """The expand options asked for: a comma-separated string (GET and POST alike)."""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return {part.strip() for part in str(value or "").split(",") if part.strip()}


def transitions() -> list[dict[str, Any]]:
    return [
        {
            "id": tid,
            "name": name,
            "to": {
                "self": "",
                "description": "",
                "iconUrl": "",
                **STATUSES[name],
            },
            "hasScreen": False,
            "isGlobal": True,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        for name, tid in TRANSITION_IDS.items()
    ]


def _rendered_time(value: Any) -> str | None:
    """Jira renders dates for people, in the user's format: `01/May/24 10:20 AM`."""
    moment = parse_time(value)
    return moment.strftime("%d/%b/%y %I:%M %p") if isinstance(moment, datetime) else None


def rendered_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Every returned field, as HTML for rich text and as people read dates; fields with no
    rendering are null (as on Jira)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "description" or (isinstance(value, dict) and value.get("type") == "doc"):
            out[name] = render(value) if isinstance(value, dict) else value
        elif name in ("created", "updated", "resolutiondate", "lastViewed"):
            out[name] = _rendered_time(value)
        elif name == "comment" and isinstance(value, dict):
            out[name] = {
                **value,
                "comments": [
                    {**c, "body": render(c.get("body"))} for c in value.get("comments", [])
                ],
            }
        else:
            out[name] = None
    return out


def changelog(history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"startAt": 0, "maxResults": len(history), "total": len(history), "histories": history}


def expand(
    issue: dict[str, Any],
    rendered: dict[str, Any],
    options: set[str],
    names: dict[str, str],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """`rendered` (an issue as served) with the asked-for expansions added."""
    if "fields" not in rendered:  # ids alone: nothing to expand
        return rendered
    if "renderedFields" in options:
        rendered["renderedFields"] = rendered_fields(rendered["fields"])
    if "names" in options:
        rendered["names"] = {k: names.get(k, k) for k in rendered["fields"]}
    if "transitions" in options:
        rendered["transitions"] = transitions()
    if "changelog" in options:
        rendered["changelog"] = changelog(history)
    return rendered
