"""What this Jira tenant lets pmsync do beyond reading (for `pmsync check`): quiet edits,
each configured custom field, and the write permissions on each configured project."""

from __future__ import annotations

from connectors.base import Capability
from connectors.jira.client import JiraConnector
from connectors.jira.settings import JiraSettings
from connectors.jira.write import SERVICE_DESK, JiraWriter
from models import ConfigError

# `mypermissions` keys: the two writes pmsync makes, and the two that allow notifyUsers=false.
WRITES = ("EDIT_ISSUES", "ADD_COMMENTS")
ADMIN = ("ADMINISTER", "ADMINISTER_PROJECTS")


def _permissions(jira: JiraConnector, project: str) -> dict[str, bool]:
    """The API user's permissions on one project (`GET /rest/api/3/mypermissions`)."""
    answer = jira.api.get_json(
        "/rest/api/3/mypermissions",
        params={"projectKey": project, "permissions": ",".join((*WRITES, *ADMIN))},
    )
    found = answer.get("permissions") or {}
    return {key: bool((found.get(key) or {}).get("havePermission")) for key in (*WRITES, *ADMIN)}


def capabilities(settings: JiraSettings) -> list[Capability]:
    """Each optional Jira feature, probed with reads only: permissions per configured
    project, the field catalogue, the projects' types."""
    jira = JiraConnector(settings)
    writer = JiraWriter(jira)
    found: list[Capability] = []
    by_project = {project: _permissions(jira, project) for project in settings.jira_projects}
    quiet = [p for p, have in by_project.items() if not any(have[k] for k in ADMIN)]
    found.append(
        Capability(
            "jira",
            "quiet_edits",
            not quiet,
            "edits send notifyUsers=false: watchers get no mail when numbers move"
            if not quiet
            else f"not an admin of {', '.join(quiet)}: Jira refuses notifyUsers=false, so "
            "edits mail the watchers; give the API user Administer Projects there",
        )
    )
    for project, have in by_project.items():
        lacking = [k for k in WRITES if not have[k]]
        found.append(
            Capability(
                "jira",
                f"write {project}",
                not lacking,
                "fields, property and the managed comment can be written"
                if not lacking
                else f"the API user lacks {', '.join(lacking)} on {project}: nothing is "
                "published there; grant them in the project's permission scheme",
            )
        )
    names = settings.demand_fields()
    for name in names:
        try:
            writer.resolve_fields([name])
            found.append(Capability("jira", f"field {name!r}", True, "custom field found"))
        except ConfigError as error:
            found.append(Capability("jira", f"field {name!r}", False, str(error)))
    desks = sorted(p for p, kind in writer.project_types().items() if kind == SERVICE_DESK)
    if desks:
        found.append(
            Capability(
                "jira",
                "internal_comments",
                True,
                f"{', '.join(desks)} are service-desk projects: the managed comment is "
                "internal (sd.public.comment), never shown on the customer portal",
            )
        )
    return found
