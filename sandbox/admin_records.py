"""Each tool's records as /_sandbox reaches them: where a kind lives, how an update moves its
timestamps and how the tool deletes it (Jira and Intercom drop the record; Zendesk marks it
`deleted` in the export; HubSpot archives; Freshdesk trashes; Salesforce sets IsDeleted)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.freshdesk_data import fd_time
from sandbox.hubspot_data import STAGE_PROBABILITY
from sandbox.intercom_data import unix
from sandbox.jira_data import STATUSES
from sandbox.salesforce_data import STAGES, sf_time
from sandbox.timefmt import hubspot_time, jira_time, zendesk_time
from sandbox.zendesk_data import record_key

if TYPE_CHECKING:
    from sandbox.state import SandboxState

Records = dict[Any, dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    records: Callable[["SandboxState"], Records]
    id_field: str
    key: Callable[[Any], Any]  # an id as given by a test -> the store's dict key
    stamp: Callable[[dict[str, Any], datetime], None]  # move the record's updated time
    index_key: Callable[[Any], str]  # the key the search lag knows the record by
    nested: str | None = None  # where changes go: "fields" (Jira), "properties" (HubSpot)
    delete: Callable[["SandboxState", Any, datetime], None] | None = None


def _top(*names: str, fmt: Callable[[datetime], Any]) -> Callable[[dict[str, Any], datetime], None]:
    def stamp(record: dict[str, Any], at: datetime) -> None:
        record.update(dict.fromkeys(names, fmt(at)))

    return stamp


def _zendesk_stamp(record: dict[str, Any], at: datetime) -> None:
    record.update(updated_at=zendesk_time(at), generated_timestamp=int(at.timestamp()))


def _jira_stamp(issue: dict[str, Any], at: datetime) -> None:
    issue.setdefault("fields", {})["updated"] = jira_time(at)


def _hubspot_stamp(obj: dict[str, Any], at: datetime) -> None:
    obj.setdefault("properties", {})["hs_lastmodifieddate"] = hubspot_time(at)
    obj["updatedAt"] = hubspot_time(at)


def _jira_delete(state: "SandboxState", key: Any, at: datetime) -> None:
    for store in (
        state.jira.issues,
        state.jira.comments,
        state.jira.properties,
        state.jira.remote_links,
    ):
        store.pop(key, None)


def _zendesk_delete(state: "SandboxState", key: Any, at: datetime) -> None:
    state.zendesk.tickets[key]["status"] = "deleted"
    _zendesk_stamp(state.zendesk.tickets[key], at)


def _hubspot_archive(kind: str) -> Callable[["SandboxState", Any, datetime], None]:
    def archive(state: "SandboxState", key: Any, at: datetime) -> None:
        obj = state.hubspot.objects[kind].pop(key)
        obj.update(archived=True, archivedAt=hubspot_time(at))
        state.hubspot.archived[kind][key] = obj

    return archive


def _intercom_delete(state: "SandboxState", key: Any, at: datetime) -> None:
    state.intercom.conversations.pop(key)


def _freshdesk_delete(state: "SandboxState", key: Any, at: datetime) -> None:
    state.freshdesk.tickets[key].update(deleted=True, updated_at=fd_time(at))


def _salesforce_delete(sobject: str) -> Callable[["SandboxState", Any, datetime], None]:
    def delete(state: "SandboxState", key: Any, at: datetime) -> None:
        record = state.salesforce.records[sobject][key]
        record.update(IsDeleted=True, SystemModstamp=sf_time(at))

    return delete


def _hubspot(kind: str, delete: bool = True) -> Kind:
    return Kind(
        lambda s: s.hubspot.objects[kind],
        "id",
        str,
        _hubspot_stamp,
        lambda i: f"{kind}/{i}",
        "properties",
        _hubspot_archive(kind) if delete else None,
    )


def _salesforce(sobject: str) -> Kind:
    return Kind(
        lambda s: s.salesforce.records[sobject],
        "Id",
        str,
        _top("SystemModstamp", "LastModifiedDate", fmt=sf_time),
        str,
        None,
        _salesforce_delete(sobject),
    )


def _flat(
    records: Callable[["SandboxState"], Records],
    key: Callable[[Any], Any],
    fmt: Callable[[datetime], Any],
    delete: Callable[["SandboxState", Any, datetime], None] | None = None,
) -> Kind:
    """A record kept flat under its `id`, whose update moves `updated_at` (in `fmt`)."""
    return Kind(records, "id", key, _top("updated_at", fmt=fmt), str, None, delete)


KINDS: dict[tuple[str, str], Kind] = {
    ("jira", "issue"): Kind(
        lambda s: s.jira.issues,
        "key",
        lambda i: str(i).upper(),
        _jira_stamp,
        str,
        "fields",
        _jira_delete,
    ),
    ("zendesk", "ticket"): Kind(
        lambda s: s.zendesk.tickets, "id", record_key, _zendesk_stamp, str, None, _zendesk_delete
    ),
    ("zendesk", "user"): _flat(lambda s: s.zendesk.users, record_key, zendesk_time),
    ("zendesk", "organization"): _flat(lambda s: s.zendesk.organizations, record_key, zendesk_time),
    ("hubspot", "deal"): _hubspot("deals"),
    ("hubspot", "company"): _hubspot("companies"),
    ("intercom", "conversation"): _flat(
        lambda s: s.intercom.conversations, str, unix, _intercom_delete
    ),
    ("intercom", "company"): _flat(lambda s: s.intercom.companies, str, unix),
    ("intercom", "contact"): _flat(lambda s: s.intercom.contacts, str, unix),
    ("freshdesk", "ticket"): _flat(
        lambda s: s.freshdesk.tickets, record_key, fd_time, _freshdesk_delete
    ),
    ("freshdesk", "company"): _flat(lambda s: s.freshdesk.companies, record_key, fd_time),
    ("freshdesk", "contact"): _flat(lambda s: s.freshdesk.contacts, record_key, fd_time),
    ("salesforce", "opportunity"): _salesforce("Opportunity"),
    ("salesforce", "account"): _salesforce("Account"),
    ("salesforce", "task"): _salesforce("Task"),
}


def derived(tool: str, kind: str, changes: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What the tool itself recomputes when a test changes a record, as its UI would:
    Jira's status object and resolution, HubSpot's and Salesforce's stage roll-ups."""
    out = dict(changes)
    if tool == "jira" and isinstance(changes.get("status"), str) and changes["status"] in STATUSES:
        done = changes["status"] == "Done"
        out["status"] = STATUSES[changes["status"]]
        out["resolution"] = {"id": "10000", "name": "Done"} if done else None
        out["resolutiondate"] = jira_time(at) if done else None
    if tool == "hubspot":
        out = {k: None if v is None else str(v) for k, v in out.items()}
        stage = out.get("dealstage")
        if stage in STAGE_PROBABILITY:
            out.update(
                hs_is_closed=str(stage in ("closedwon", "closedlost")).lower(),
                hs_is_closed_won=str(stage == "closedwon").lower(),
                hs_deal_stage_probability=STAGE_PROBABILITY[stage],
            )
    if tool == "salesforce":
        stage = {name: (key, p) for key, (name, p) in STAGES.items()}.get(out.get("StageName", ""))
        if stage:
            out.update(
                IsClosed=stage[0] in ("closedwon", "closedlost"),
                IsWon=stage[0] == "closedwon",
                Probability=stage[1],
            )
    if tool == "intercom" and out.get("state") in ("open", "closed", "snoozed"):
        out["open"] = out["state"] != "closed"
    return out
