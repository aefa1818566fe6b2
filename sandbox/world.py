"""The seeded world behind every sandbox API: one vendor (Acme Analytics), its customers,
their support tickets and the CRM deals, all derived from `random.Random(seed)`.

Times are offsets back from the `now` passed in, so two worlds made with the same seed and
the same `now` are equal. Generation is linear in the sizes; `scale` multiplies them.
"""

import random
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sandbox import names
from sandbox.catalog import FEATURES

PROJECT = "ANA"
DAY = 86400


@dataclass(frozen=True)
class Sizes:
    issues: int = 40
    accounts: int = 30
    crm_only_accounts: int = 4
    free_mail_people: int = 6
    tickets: int = 300
    deals: int = 80

    def scaled(self, scale: int) -> "Sizes":
        return Sizes(*(n * scale for n in vars(self).values()))


@dataclass(frozen=True)
class Issue:
    key: str
    id: str
    feature: int  # index into catalog.FEATURES
    summary: str
    description: str
    component: str
    labels: tuple[str, ...]
    status: str  # "To Do" | "In Progress" | "Done"
    priority: str
    fix_version: str | None
    assignee: str
    created: datetime
    updated: datetime
    resolved: datetime | None


@dataclass(frozen=True)
class Account:
    name: str
    domains: tuple[str, ...]  # first is the primary domain (the CRM's `domain`)
    plan: str
    industry: str
    annual_revenue: int
    zendesk_org_id: int | None
    hubspot_company_id: str | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    org_id: int | None
    role: str  # Zendesk role: "end-user" or "agent"
    created: datetime


@dataclass(frozen=True)
class Ticket:
    id: int
    subject: str
    description: str
    status: str
    priority: str | None
    type: str
    tags: tuple[str, ...]
    requester_id: int
    organization_id: int | None
    assignee_id: int
    channel: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class JiraLink:
    id: int
    ticket_id: int
    issue_id: str
    issue_key: str
    created: datetime


@dataclass(frozen=True)
class Deal:
    id: str
    name: str
    amount: int
    stage: str
    close_date: datetime
    created: datetime
    updated: datetime
    company_id: str
    issue_keys: tuple[str, ...]


@dataclass(frozen=True)
class TruthLink:
    source: str  # "zendesk" | "hubspot"
    kind: str  # "feedback" | "deal"
    record_id: str
    issue_key: str
    method: str  # "cited_key" | "zendesk_jira_link" | "deal_field" | "text"


@dataclass(frozen=True)
class World:
    seed: int
    now: datetime
    issues: tuple[Issue, ...]
    accounts: tuple[Account, ...]
    people: tuple[Person, ...]
    tickets: tuple[Ticket, ...]
    jira_links: tuple[JiraLink, ...]
    deals: tuple[Deal, ...]
    truth: tuple[TruthLink, ...]


def generate(seed: int = 7, now: datetime | None = None, scale: int = 1) -> World:
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    sizes = Sizes().scaled(scale)
    issues = _issues(rng, now, sizes.issues)
    accounts = _accounts(rng, now, sizes.accounts, sizes.crm_only_accounts)
    people = _people(rng, now, accounts, sizes.free_mail_people)
    # Zipf-like demand: a few features are asked for far more often than the rest.
    popularity = list(
        accumulate(1 / (rank + 1) ** 0.8 for rank in rng.sample(range(len(issues)), len(issues)))
    )
    tickets, links, ticket_truth = _tickets(
        rng, now, issues, popularity, accounts, people, sizes.tickets
    )
    deals, deal_truth = _deals(rng, now, issues, popularity, accounts, sizes.deals)
    return World(
        seed, now, issues, accounts, people, tickets, links, deals, ticket_truth + deal_truth
    )


def _ago(rng: random.Random, now: datetime, lo_days: float, hi_days: float) -> datetime:
    return now - timedelta(seconds=rng.randint(int(lo_days * DAY), int(hi_days * DAY)))


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randint(0, max(0, int((end - start).total_seconds()))))


def _increasing_ids(rng: random.Random, base: int, n: int, max_step: int) -> list[int]:
    ids, current = [], base
    for _ in range(n):
        current += rng.randint(1, max_step)
        ids.append(current)
    return ids


def _issues(rng: random.Random, now: datetime, n: int) -> tuple[Issue, ...]:
    specs = [(i % len(FEATURES), i // len(FEATURES)) for i in range(n)]
    rng.shuffle(specs)
    created = sorted(_ago(rng, now, 200, 720) for _ in range(n))
    engineers = [name for name, title in names.STAFF if "Support" not in title]
    recent = now - timedelta(hours=1)
    issues = []
    for i, ((feature, phase), born) in enumerate(zip(specs, created, strict=True)):
        spec = FEATURES[feature]
        status = rng.choices(("To Do", "In Progress", "Done"), (45, 25, 30))[0]
        resolved = _between(rng, born + timedelta(days=30), recent) if status == "Done" else None
        touched = resolved or born
        fix_version = _quarter(resolved) if resolved else None
        if status == "In Progress" and rng.random() < 0.4:
            fix_version = _quarter(now + timedelta(days=90))
        issues.append(
            Issue(
                key=f"{PROJECT}-{i + 1}",
                id=str(10000 + i),
                feature=feature,
                summary=spec.summary + (f" (phase {phase + 1})" if phase else ""),
                description=spec.description,
                component=spec.component,
                labels=spec.labels,
                status=status,
                priority=rng.choices(("Highest", "High", "Medium", "Low"), (5, 25, 50, 20))[0],
                fix_version=fix_version,
                assignee=rng.choice(engineers),
                created=born,
                updated=_between(
                    rng, touched, min(touched + timedelta(days=rng.randint(30, 400)), recent)
                ),
                resolved=resolved,
            )
        )
    return tuple(issues)


def _quarter(when: datetime) -> str:
    return f"{when.year}.{(when.month - 1) // 3 + 1}"


def _slug(text: str) -> str:
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


def _accounts(rng: random.Random, now: datetime, n: int, crm_only: int) -> tuple[Account, ...]:
    total = n + crm_only
    org_ids = _increasing_ids(rng, 360_000_000_000, n, 90_000)
    company_ids = _increasing_ids(rng, 5_200_000_000, total, 40_000)
    rng.shuffle(company_ids)  # the CRM's ids follow its own import order
    used: set[str] = set()
    accounts = []
    for i, name in enumerate(_company_names(rng, total)):
        slug = _slug(name)
        base = slug.replace(" ", "-" if rng.random() < 0.3 else "")
        domain = base + rng.choice(names.TLDS)
        while domain in used:
            domain = base + str(len(used)) + ".com"
        used.add(domain)
        domains: tuple[str, ...] = (domain,)
        if rng.random() < 0.15:  # some customers also mail from a regional domain
            domains += (
                base + rng.choice([t for t in names.SECOND_TLDS if not domain.endswith(t)]),
            )
        created = _ago(rng, now, 400, 1400)
        accounts.append(
            Account(
                name=name,
                domains=domains,
                plan=rng.choice(names.PLANS),
                industry=next((v for k, v in names.INDUSTRIES.items() if k in name), "OTHER"),
                annual_revenue=int(round(10 ** rng.uniform(6.3, 8.9), -5)),
                zendesk_org_id=org_ids[i] if i < n else None,
                hubspot_company_id=str(company_ids[i]),
                created=created,
                updated=_between(rng, created, now - timedelta(hours=2)),
            )
        )
    return tuple(accounts)


def _email(rng: random.Random, name: str, domain: str) -> str:
    first, last = (_slug(part).replace(" ", "") for part in name.split(" ", 1))
    style = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first, f"{first}_{last}"))
    return f"{style}@{domain}"


def _people(
    rng: random.Random, now: datetime, accounts: tuple[Account, ...], free_mail: int
) -> tuple[Person, ...]:
    drafts: list[tuple[datetime, str, str, int | None, str]] = []
    for name, title in names.STAFF:
        if "Support" in title:
            email = _email(rng, name, names.COMPANY_DOMAIN)
            drafts.append((_ago(rng, now, 900, 1500), name, email, None, "agent"))
    taken: set[str] = set()
    for account in accounts:
        if account.zendesk_org_id is None:
            continue
        for _ in range(rng.randint(2, 5)):
            name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
            email = _email(rng, name, rng.choice(account.domains))
            if email not in taken:
                taken.add(email)
                born = _between(rng, account.created, now - timedelta(days=30))
                drafts.append((born, name, email, account.zendesk_org_id, "end-user"))
    for i in range(free_mail):
        name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
        email = _email(rng, name, names.FREE_MAIL[i % len(names.FREE_MAIL)])
        email = email.replace("@", f"{rng.randint(70, 99)}@")
        drafts.append((_ago(rng, now, 200, 600), name, email, None, "end-user"))
    drafts.sort(key=lambda d: d[0])
    ids = _increasing_ids(rng, 381_000_000_000, len(drafts), 400_000)
    return tuple(
        Person(pid, name, email, org, role, born)
        for pid, (born, name, email, org, role) in zip(ids, drafts, strict=True)
    )


def _ticket_status(rng: random.Random, age_days: float) -> str:
    if age_days < 3:
        return rng.choice(("new", "open", "open", "pending"))
    if age_days < 20:
        return rng.choice(("open", "pending", "solved", "solved"))
    return rng.choices(("open", "pending", "solved", "closed"), (8, 4, 38, 50))[0]


def _wrap(rng: random.Random, body: str, signer: str) -> str:
    lead = " ".join(p for p in (rng.choice(names.CONTEXT), body) if p)
    return f"{rng.choice(names.GREETINGS)}\n\n{lead}\n\n{rng.choice(names.CLOSINGS)}\n{signer}"


def _ticket_text(
    rng: random.Random, kind: str, issue: Issue, other: Issue, signer: str
) -> tuple[str, str, list[str]]:
    """Subject, description and tags for one ticket of the given planted kind."""
    if kind == "unrelated":
        subject, body, tag = rng.choice(names.UNRELATED)
        return subject, _wrap(rng, body, signer), [tag]
    tags = ["feature_request", _slug(issue.component).replace(" ", "_")]
    if kind != "cited_key":
        subject, body = rng.choice(FEATURES[issue.feature].asks)
        return subject, _wrap(rng, body, signer), tags
    subject, body = rng.choice(names.CITED)
    if other != issue:
        body += " Same question for {other}."
    fill = {"key": issue.key, "summary": issue.summary, "other": other.key}
    return subject.format(**fill), _wrap(rng, body.format(**fill), signer), tags + ["roadmap"]


def _tickets(
    rng: random.Random,
    now: datetime,
    issues: tuple[Issue, ...],
    popularity: list[float],
    accounts: tuple[Account, ...],
    people: tuple[Person, ...],
    n: int,
) -> tuple[tuple[Ticket, ...], tuple[JiraLink, ...], tuple[TruthLink, ...]]:
    plans = {a.zendesk_org_id: a.plan for a in accounts}
    agents = [p for p in people if p.role == "agent"]
    customers = [p for p in people if p.role == "end-user" and p.org_id is not None]
    free = [p for p in people if p.role == "end-user" and p.org_id is None]
    chattiness = list(accumulate(rng.uniform(0.2, 3.0) for _ in customers))
    created = sorted(_ago(rng, now, 0.01, 200) for _ in range(n))
    first_id = 1000 + rng.randint(0, 4000)
    tickets: list[Ticket] = []
    links: list[JiraLink] = []
    truth: list[TruthLink] = []
    for tid, born in enumerate(created, start=first_id):
        requester = (
            rng.choice(free)
            if free and rng.random() < 0.08
            else rng.choices(customers, cum_weights=chattiness)[0]
        )
        kind = rng.choices(
            ("cited_key", "zendesk_jira_link", "text", "unrelated"), (14, 10, 38, 38)
        )[0]
        issue, other = rng.choices(issues, cum_weights=popularity, k=2)
        if kind != "cited_key" or rng.random() > 0.12:  # a few tickets cite two keys
            other = issue
        subject, description, tags = _ticket_text(
            rng, kind, issue, other, requester.name.split()[0]
        )
        if kind != "unrelated":
            truth += [
                TruthLink("zendesk", "feedback", str(tid), i.key, kind)
                for i in dict.fromkeys((issue, other))
            ]
        if kind == "zendesk_jira_link":
            linked = _between(rng, born, min(born + timedelta(days=3), now))
            links.append(JiraLink(len(links) + 9001, tid, issue.id, issue.key, linked))
        updated = _between(rng, born, min(born + timedelta(days=30), now - timedelta(minutes=5)))
        plan = plans.get(requester.org_id)
        tickets.append(
            Ticket(
                id=tid,
                subject=subject,
                description=description,
                status=_ticket_status(rng, (now - updated).total_seconds() / DAY),
                priority=rng.choice(("low", "normal", "normal", "high", "urgent", None)),
                type="incident" if tags == ["bug"] else rng.choice(("question", "task")),
                tags=tuple(tags + ([plan] if plan else [])),
                requester_id=requester.id,
                organization_id=requester.org_id,
                assignee_id=rng.choice(agents).id,
                channel=rng.choice(("web", "email", "email", "api")),
                created=born,
                updated=updated,
            )
        )
    return tuple(tickets), tuple(links), tuple(truth)


OPEN_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)


def _deals(
    rng: random.Random,
    now: datetime,
    issues: tuple[Issue, ...],
    popularity: list[float],
    accounts: tuple[Account, ...],
    n: int,
) -> tuple[tuple[Deal, ...], tuple[TruthLink, ...]]:
    weights = list(accumulate(rng.uniform(0.3, 2.5) for _ in accounts))
    recent = now - timedelta(minutes=10)
    drafts: list[Deal] = []
    for _ in range(n):
        account = rng.choices(accounts, cum_weights=weights)[0]
        stage = rng.choices(("closedwon", "closedlost", "open"), (30, 20, 50))[0]
        if stage == "open":
            stage = rng.choice(OPEN_STAGES)
            created = _ago(rng, now, 1, 150)
            close = now + timedelta(seconds=rng.randint(7 * DAY, 200 * DAY))
            updated = _between(rng, created, recent)
        else:
            close = _ago(rng, now, 3, 730)
            created = close - timedelta(seconds=rng.randint(14 * DAY, 150 * DAY))
            updated = _between(rng, close, min(close + timedelta(days=10), recent))
        keys: tuple[str, ...] = ()
        if rng.random() < 0.45:
            picked = rng.choices(issues, cum_weights=popularity, k=rng.randint(1, 3))
            keys = tuple(dict.fromkeys(i.key for i in picked))
        drafts.append(
            Deal(
                id="",
                name=f"{account.name} – {rng.choice(names.DEAL_KINDS)}",
                amount=int(rng.triangular(5000, 250000, 30000) // 500 * 500),
                stage=stage,
                close_date=close,
                created=created,
                updated=updated,
                company_id=str(account.hubspot_company_id),
                issue_keys=keys,
            )
        )
    drafts.sort(key=lambda d: d.created)
    # One bulk edit gave several deals the very same hs_lastmodifieddate.
    bulk = _ago(rng, now, 2, 20)
    bulk_edited = set(rng.sample(range(n), min(n, max(3, n // 10))))
    ids = _increasing_ids(rng, 10_400_000_000, n, 3_000_000)
    deals = tuple(
        replace(
            d, id=str(did), updated=bulk if i in bulk_edited and d.created < bulk else d.updated
        )
        for i, (did, d) in enumerate(zip(ids, drafts, strict=True))
    )
    truth = tuple(
        TruthLink("hubspot", "deal", d.id, key, "deal_field") for d in deals for key in d.issue_keys
    )
    return deals, truth
