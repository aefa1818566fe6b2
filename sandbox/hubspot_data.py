"""HubSpot CRM objects (deals, companies, notes) and their associations, built from the world."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.tenants import TENANTS, Tenant
from sandbox.timefmt import epoch_ms, from_epoch_ms, hubspot_time, order_time
from sandbox.world import World

# Object type names as HubSpot accepts them in paths: plural, singular, or the type id.
OBJECT_TYPES = {
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "notes": "notes",
    "note": "notes",
    "0-46": "notes",
}
TYPE_IDS = {"deals": "0-3", "companies": "0-2", "notes": "0-46"}
# A multi-currency portal's deals, round-robin, and the fixed exchange rates it keeps
# (units of USD per unit of the currency; HubSpot rates are set by the account's admin).
DEAL_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
USD_PER_UNIT = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "JPY": Decimal("0.0067"),
}
MINOR_UNITS = {"JPY": 0}

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
        "amount_in_home_currency",
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
NUMBERS = {
    "amount",
    "amount_in_home_currency",
    "annualrevenue",
    "hs_deal_stage_probability",
    "num_notes",
}
CALCULATED = {"amount_in_home_currency", "hs_is_closed", "hs_is_closed_won", "num_notes"}
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
    # The properties this portal has, per object type (a tenant may lack a custom one).
    schema: dict[str, set[str]] = field(
        default_factory=lambda: {k: set(v) for k, v in SCHEMA.items()}
    )
    home_currency: str = "USD"
    currencies: tuple[str, ...] = ("USD",)

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


def in_currency(home_amount: Any, currency: str, home: str) -> str:
    """A home-currency amount expressed in `currency`, to that currency's minor unit."""
    value = Decimal(str(home_amount)) * USD_PER_UNIT[home] / USD_PER_UNIT[currency]
    step = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
    return str(value.quantize(step, rounding=ROUND_HALF_UP))


def home_amount(props: dict[str, Any], home: str) -> str | None:
    """HubSpot's calculated `amount_in_home_currency`: the amount at the portal's rate for
    the deal's currency (the amount itself in a single-currency portal)."""
    amount = props.get("amount")
    if amount in (None, ""):
        return None
    currency = props.get("deal_currency_code") or home
    if currency not in USD_PER_UNIT or home not in USD_PER_UNIT or currency == home:
        return str(amount)
    try:
        value = Decimal(str(amount)) * USD_PER_UNIT[currency] / USD_PER_UNIT[home]
    except ArithmeticError:
        return None
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# The messy tenant's odd values, each on every n-th record (deterministic). Names stay
# distinct: two companies sharing a name would be one customer to anyone.
MESSY_DEAL_SUFFIXES = (" – Øresund 拡張 ☕", " : renouvellement « Q3 »")
MESSY_COMPANY_SUFFIXES = (" Müller & Söhne", " 株式会社")
# (every, remainder, values): the n-th record with n % every == remainder gets the values.
# HubSpot returns a property nobody filled as null, and one cleared by a person as "".
Blanks = tuple[tuple[int, int, dict[str, Any]], ...]
MESSY_BLANKS: dict[str, Blanks] = {
    "deals": (
        (5, 1, {"amount": None}),
        (6, 2, {"closedate": "", "hs_deal_stage_probability": None}),
        (4, 0, {"pipeline": ""}),
    ),
    "companies": (
        (3, 1, {"annualrevenue": None}),
        (5, 2, {"industry": "", "website": None}),
    ),
}


def build(world: World, tenant: Tenant | None = None) -> HubSpotStore:
    tenant = tenant or TENANTS["full"]
    store = HubSpotStore({"deals": {}, "companies": {}, "notes": {}})
    store.home_currency = tenant.home_currency
    if tenant.multi_currency:
        store.currencies = DEAL_CURRENCIES
    if not tenant.hubspot_issue_keys_property:
        store.schema["deals"].discard("jira_issue_keys")
    for cid, account in world.customers_in(lambda a: a.hubspot_company_id):
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
        currency = store.currencies[len(store.objects["deals"]) % len(store.currencies)]
        store.objects["deals"][deal.id] = record(
            deal.id,
            {
                "dealname": deal.name,
                "amount": in_currency(deal.amount, currency, store.home_currency)
                if currency != store.home_currency
                else str(deal.amount),
                "dealstage": deal.stage,
                "pipeline": "default",
                "closedate": hubspot_time(deal.close_date),
                "createdate": hubspot_time(deal.created),
                "hs_lastmodifieddate": hubspot_time(deal.updated),
                "hs_is_closed": str(closed).lower(),
                "hs_is_closed_won": str(deal.stage == "closedwon").lower(),
                "hs_deal_stage_probability": STAGE_PROBABILITY[deal.stage],
                "deal_currency_code": currency,
                "jira_issue_keys": ";".join(deal.issue_keys) or None,
            },
        )
        if not tenant.hubspot_issue_keys_property:
            del store.objects["deals"][deal.id]["properties"]["jira_issue_keys"]
        company = world.accounts[deal.account].hubspot_company_id
        store.associate("deals", deal.id, "companies", str(company))
    if tenant.messy:
        _messy(store)
    return store


def _messy(store: HubSpotStore) -> None:
    """What real portals hold: blank and null properties, deals without an amount or a close
    date, names beyond ASCII."""
    for n, deal in enumerate(store.objects["deals"].values()):
        props = _blanked(deal["properties"], n, MESSY_BLANKS["deals"])
        if n % 7 == 3:
            props["dealname"] = f"{props['dealname']}{MESSY_DEAL_SUFFIXES[n % 2]}"
    for n, company in enumerate(store.objects["companies"].values()):
        props = _blanked(company["properties"], n, MESSY_BLANKS["companies"])
        if n % 4 == 3:
            props["name"] = f"{props['name']}{MESSY_COMPANY_SUFFIXES[(n // 4) % 2]}"


def _blanked(props: dict[str, Any], n: int, blanks: Blanks) -> dict[str, Any]:
    """`props` of the n-th record, with the blanks of every rule whose n-th record it is."""
    for every, remainder, values in blanks:
        if n % every == remainder:
            props.update(values)
    return props


def properties_of(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    return props if isinstance(props, dict) else {}


def render(
    obj: dict[str, Any], kind: str, requested: list[str], store: HubSpotStore | None = None
) -> dict[str, Any]:
    """Only the asked-for properties (plus HubSpot's always-returned three), or the defaults.
    A property the portal does not have is silently left out, as HubSpot does."""
    props = obj.get("properties")
    if not isinstance(props, dict):
        return dict(obj)
    schema = store.schema[kind] if store else SCHEMA[kind]
    home = store.home_currency if store else "USD"
    always = ALWAYS if kind != "notes" else DEFAULTS["notes"]
    names = [*requested, *always] if requested else list(DEFAULTS[kind])
    shown = {
        n: props.get(n)
        for n in dict.fromkeys(names)
        if n in schema or (n in props and n not in SCHEMA[kind])
    }
    if kind == "deals" and "amount_in_home_currency" in shown:
        shown["amount_in_home_currency"] = home_amount(props, home)
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
