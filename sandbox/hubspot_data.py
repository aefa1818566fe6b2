"""HubSpot CRM objects (deals, companies, notes) and their associations, built from the world."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.timefmt import epoch_ms, from_epoch_ms, hubspot_time, order_time
from sandbox.world import World

# (from, to) -> association types as v4 reports them, with the v3 `type` name.
ASSOCIATION_TYPES: dict[tuple[str, str], list[tuple[int, str | None, str]]] = {
    ("deals", "companies"): [
        (5, "Primary", "deal_to_company"),
        (341, None, "deal_to_company_unlabeled"),
    ],
    ("companies", "deals"): [
        (6, "Primary", "company_to_deal"),
        (342, None, "company_to_deal_unlabeled"),
    ],
    ("notes", "deals"): [(214, None, "note_to_deal")],
    ("deals", "notes"): [(213, None, "deal_to_note")],
    ("notes", "companies"): [(190, None, "note_to_company")],
    ("companies", "notes"): [(189, None, "company_to_note")],
}
NOTE_TARGETS = {214: "deals", 190: "companies"}  # associationTypeId -> object type
ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")
DEFAULTS = {
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "notes": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
SCHEMA = {
    "deals": {
        *DEFAULTS["deals"],
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_deal_stage_probability",
        "jira_issue_keys",
        "deal_currency_code",
        "notes_last_updated",
        "num_notes",
        "hubspot_owner_id",
    },
    "companies": {
        *DEFAULTS["companies"],
        "annualrevenue",
        "industry",
        "website",
        "hubspot_owner_id",
    },
    "notes": {*DEFAULTS["notes"], "hs_note_body", "hs_timestamp", "hubspot_owner_id"},
}
DATES = {
    "createdate",
    "closedate",
    "hs_lastmodifieddate",
    "hs_createdate",
    "hs_timestamp",
    "notes_last_updated",
}
NUMBERS = {"amount", "annualrevenue", "hs_deal_stage_probability", "num_notes"}
STAGE_PROBABILITY = {
    "appointmentscheduled": "0.2",
    "qualifiedtobuy": "0.4",
    "presentationscheduled": "0.6",
    "decisionmakerboughtin": "0.8",
    "contractsent": "0.9",
    "closedwon": "1.0",
    "closedlost": "0.0",
}


@dataclass
class HubSpotStore:
    objects: dict[str, dict[str, dict[str, Any]]]  # type -> id -> record
    # Archived records leave `objects`: only `?archived=true` lists or reads them.
    archived: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"deals": {}, "companies": {}, "notes": {}}
    )
    links: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    next_id: int = 61_000_000_000

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def associate(self, kind: str, oid: str, other_kind: str, other_id: str) -> None:
        for pair, a, b in (
            ((kind, other_kind), oid, other_id),
            ((other_kind, kind), other_id, oid),
        ):
            targets = self.links.setdefault(pair, {}).setdefault(a, [])
            if b not in targets:
                targets.append(b)

    def associated(self, kind: str, oid: str, other_kind: str) -> list[str]:
        return list(self.links.get((kind, other_kind), {}).get(oid, []))


def record(oid: str, properties: dict[str, Any]) -> dict[str, Any]:
    props = {**properties, "hs_object_id": oid}
    created = props.get("createdate") or props.get("hs_createdate")
    return {
        "id": oid,
        "properties": props,
        "createdAt": created,
        "updatedAt": props["hs_lastmodifieddate"],
        "archived": False,
    }


def build(world: World) -> HubSpotStore:
    store = HubSpotStore({"deals": {}, "companies": {}, "notes": {}})
    for account in world.accounts:
        if account.hubspot_company_id is None:
            continue
        cid = account.hubspot_company_id
        store.objects["companies"][cid] = record(
            cid,
            {
                "name": account.name,
                "domain": account.domains[0],
                "website": f"https://www.{account.domains[0]}",
                "annualrevenue": str(account.annual_revenue),
                "industry": account.industry,
                "createdate": hubspot_time(account.created),
                "hs_lastmodifieddate": hubspot_time(account.updated),
            },
        )
    for deal in world.deals:
        if deal.crm != "hubspot":
            continue
        closed = deal.stage in ("closedwon", "closedlost")
        store.objects["deals"][deal.id] = record(
            deal.id,
            {
                "dealname": deal.name,
                "amount": str(deal.amount),
                "dealstage": deal.stage,
                "pipeline": "default",
                "closedate": hubspot_time(deal.close_date),
                "createdate": hubspot_time(deal.created),
                "hs_lastmodifieddate": hubspot_time(deal.updated),
                "hs_is_closed": str(closed).lower(),
                "hs_is_closed_won": str(deal.stage == "closedwon").lower(),
                "hs_deal_stage_probability": STAGE_PROBABILITY[deal.stage],
                "deal_currency_code": "USD",
                "jira_issue_keys": ";".join(deal.issue_keys) or None,
            },
        )
        company = world.accounts[deal.account].hubspot_company_id
        store.associate("deals", deal.id, "companies", str(company))
    return store


def properties_of(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    return props if isinstance(props, dict) else {}


def render(obj: dict[str, Any], kind: str, requested: list[str]) -> dict[str, Any]:
    """Only the asked-for properties (plus HubSpot's always-returned three), or the defaults."""
    props = obj.get("properties")
    if not isinstance(props, dict):
        return dict(obj)
    always = ALWAYS if kind != "notes" else DEFAULTS["notes"]
    names = [*requested, *always] if requested else list(DEFAULTS[kind])
    shown = {n: props.get(n) for n in dict.fromkeys(names) if n in props or n in SCHEMA[kind]}
    return {**obj, "properties": shown}


def to_time(value: Any, now: datetime) -> datetime:
    """HubSpot takes datetimes as epoch milliseconds or ISO 8601 strings."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return from_epoch_ms(int(value))
    return order_time(value, now)


def comparable(name: str, value: Any, now: datetime) -> Any:
    """A property value as search filters and sorts compare it."""
    if value is None:
        return None
    if name == "hs_object_id":
        return str(value)  # HubSpot compares ids as strings: id + 1 would skip records
    if name in DATES:
        return epoch_ms(to_time(value, now))
    if name in NUMBERS:
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value).lower()
