"""The vendor's customers: companies spread over the support tools and the two CRMs, and the
people who write in from them."""

import random
import re
import unicodedata
from datetime import datetime, timedelta

from sandbox import names
from sandbox.ids import object_id, salesforce_id
from sandbox.world_model import (
    CRMS,
    SUPPORT_TOOLS,
    Account,
    Person,
    ago,
    between,
    increasing_ids,
)


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9 ]", "", ascii_text.lower()).strip()


def _company_names(rng: random.Random, n: int) -> list[str]:
    combos = [(s, k) for s in names.COMPANY_STEMS for k in names.COMPANY_KINDS]
    rng.shuffle(combos)
    # One company per stem first, so a small world never has two "Northwind ..." names.
    first: dict[str, tuple[str, str]] = {}
    rest = [c for c in combos if first.setdefault(c[0], c) != c]
    ordered = [f"{s} {k}" for s, k in [*first.values(), *rest]]
    return [
        ordered[i % len(ordered)] + (f" {i // len(ordered) + 1}" if i >= len(ordered) else "")
        for i in range(n)
    ]


def _support_tools(rng: random.Random) -> tuple[str, ...]:
    """The primary tool first; a quarter of customers also write in through a second one."""
    primary = rng.choices(SUPPORT_TOOLS, (45, 30, 25))[0]
    if rng.random() < 0.25:
        return (primary, rng.choice([t for t in SUPPORT_TOOLS if t != primary]))
    return (primary,)


def accounts(rng: random.Random, now: datetime, n: int, crm_only: int) -> tuple[Account, ...]:
    total = n + crm_only
    used: set[str] = set()
    drafts = []
    for i, name in enumerate(_company_names(rng, total)):
        base = slug(name).replace(" ", "-" if rng.random() < 0.3 else "")
        domain = base + rng.choice(names.TLDS)
        while domain in used:
            domain = base + str(len(used)) + ".com"
        used.add(domain)
        domains: tuple[str, ...] = (domain,)
        if rng.random() < 0.15:  # some customers also mail from a regional domain
            domains += (
                base + rng.choice([t for t in names.SECOND_TLDS if not domain.endswith(t)]),
            )
        created = ago(rng, now, 400, 1400)
        support = _support_tools(rng) if i < n else ()
        drafts.append((name, domains, support, rng.choices(CRMS, (60, 40))[0], created))
    org_ids = iter(increasing_ids(rng, 360_000_000_000, total, 90_000))
    freshdesk_ids = iter(increasing_ids(rng, 43_000_120_000, total, 3_000))
    hubspot_ids = increasing_ids(rng, 5_200_000_000, total, 40_000)
    rng.shuffle(hubspot_ids)  # the CRM's ids follow its own import order
    salesforce_numbers = list(range(1000, 1000 + total))
    rng.shuffle(salesforce_numbers)
    result = []
    for i, (name, domains, support, crm, created) in enumerate(drafts):
        result.append(
            Account(
                name=name,
                domains=domains,
                plan=rng.choice(names.PLANS),
                industry=next((v for k, v in names.INDUSTRIES.items() if k in name), "OTHER"),
                annual_revenue=int(round(10 ** rng.uniform(6.3, 8.9), -5)),
                support=support,
                crm=crm,
                zendesk_org_id=next(org_ids) if "zendesk" in support else None,
                intercom_company_id=object_id(rng, created) if "intercom" in support else None,
                freshdesk_company_id=next(freshdesk_ids) if "freshdesk" in support else None,
                hubspot_company_id=str(hubspot_ids[i]) if crm == "hubspot" else None,
                salesforce_account_id=salesforce_id("Account", salesforce_numbers[i])
                if crm == "salesforce"
                else None,
                created=created,
                updated=between(rng, created, now - timedelta(hours=2)),
            )
        )
    return tuple(result)


def _email(rng: random.Random, name: str, domain: str) -> str:
    first, last = (slug(part).replace(" ", "") for part in name.split(" ", 1))
    style = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first, f"{first}_{last}"))
    return f"{style}@{domain}"


Draft = tuple[datetime, str, str, str, int | None, str]  # created, tool, name, email, account, role


def _drafts(
    rng: random.Random, now: datetime, accounts: tuple[Account, ...], free_mail: int
) -> list[Draft]:
    drafts: list[Draft] = []
    for tool in SUPPORT_TOOLS:
        for name, title in names.STAFF:
            if "Support" in title:
                email = _email(rng, name, names.COMPANY_DOMAIN)
                drafts.append((ago(rng, now, 900, 1500), tool, name, email, None, "agent"))
    taken: set[str] = set()
    for index, account in enumerate(accounts):
        for rank, tool in enumerate(account.support):
            for _ in range(rng.randint(2, 5) if rank == 0 else rng.randint(1, 2)):
                name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
                email = _email(rng, name, rng.choice(account.domains))
                if email not in taken:
                    taken.add(email)
                    born = between(rng, account.created, now - timedelta(days=30))
                    drafts.append((born, tool, name, email, index, "end-user"))
    for i in range(free_mail):
        name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
        email = _email(rng, name, names.FREE_MAIL[i % len(names.FREE_MAIL)])
        email = email.replace("@", f"{rng.randint(70, 99)}@")
        tool = SUPPORT_TOOLS[i % len(SUPPORT_TOOLS)]
        drafts.append((ago(rng, now, 200, 600), tool, name, email, None, "end-user"))
    drafts.sort(key=lambda d: d[0])
    return drafts


def people(
    rng: random.Random, now: datetime, accounts: tuple[Account, ...], free_mail: int
) -> tuple[Person, ...]:
    """Zendesk users, Intercom contacts and admins, Freshdesk contacts and agents."""
    drafts = _drafts(rng, now, accounts, free_mail)
    counts = {tool: sum(d[1] == tool for d in drafts) for tool in SUPPORT_TOOLS}
    numeric = {
        "zendesk": iter(increasing_ids(rng, 381_000_000_000, counts["zendesk"], 400_000)),
        "freshdesk": iter(increasing_ids(rng, 43_001_000_000, counts["freshdesk"], 90_000)),
    }
    admin_ids = iter(increasing_ids(rng, 5_017_000, len(names.STAFF), 900))
    result = []
    for born, tool, name, email, account, role in drafts:
        pid: int | str
        if tool != "intercom":
            pid = next(numeric[tool])
        else:
            pid = str(next(admin_ids)) if role == "agent" else object_id(rng, born)
        result.append(Person(tool, pid, name, email, account, role, born))
    return tuple(result)
