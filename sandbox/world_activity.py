"""What customers do: feedback in their support tools (citing issue keys, linked through
Zendesk's Jira app, or paraphrasing a feature) and deals in their CRM."""

import random
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import accumulate

from sandbox import names
from sandbox.catalog import FEATURES
from sandbox.ids import salesforce_id
from sandbox.world_customers import slug
from sandbox.world_model import (
    DAY,
    SUPPORT_TOOLS,
    Account,
    Deal,
    Feedback,
    Issue,
    JiraLink,
    Person,
    TruthLink,
    ago,
    between,
    increasing_ids,
)

KINDS = ("cited_key", "zendesk_jira_link", "text", "unrelated")
# Only Zendesk has the Jira app whose links the sandbox emulates.
KIND_WEIGHTS = {
    "zendesk": (14, 10, 38, 38),
    "intercom": (20, 0, 42, 38),
    "freshdesk": (20, 0, 42, 38),
}
OPEN_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)


def _status(rng: random.Random, age_days: float) -> str:
    if age_days < 3:
        return rng.choice(("new", "open", "open", "pending"))
    if age_days < 20:
        return rng.choice(("open", "pending", "solved", "solved"))
    return rng.choices(("open", "pending", "solved", "closed"), (8, 4, 38, 50))[0]


def _wrap(rng: random.Random, body: str, signer: str) -> str:
    lead = " ".join(p for p in (rng.choice(names.CONTEXT), body) if p)
    return f"{rng.choice(names.GREETINGS)}\n\n{lead}\n\n{rng.choice(names.CLOSINGS)}\n{signer}"


def _text(
    rng: random.Random, kind: str, issue: Issue, other: Issue, signer: str
) -> tuple[str, str, list[str]]:
    """Subject, description and tags for one item of the given planted kind."""
    if kind == "unrelated":
        subject, body, tag = rng.choice(names.UNRELATED)
        return subject, _wrap(rng, body, signer), [tag]
    tags = ["feature_request", slug(issue.component).replace(" ", "_")]
    if kind != "cited_key":
        subject, body = rng.choice(FEATURES[issue.feature].asks)
        return subject, _wrap(rng, body, signer), tags
    subject, body = rng.choice(names.CITED)
    if other != issue:
        body += " Same question for {other}."
    fill = {"key": issue.key, "summary": issue.summary, "other": other.key}
    return subject.format(**fill), _wrap(rng, body.format(**fill), signer), tags + ["roadmap"]


def _feedback_ids(rng: random.Random, tools: list[str]) -> list[int]:
    """Per tool, ids rise with creation time. Freshdesk numbers tickets from small integers
    like Zendesk does: its range starts above Zendesk's so that no two tools share an id."""
    counts = {tool: tools.count(tool) for tool in SUPPORT_TOOLS}
    zendesk_first = 1000 + rng.randint(0, 4000)
    freshdesk_first = 10 ** (len(str(zendesk_first + counts["zendesk"])) + 1)
    sequences = {
        "zendesk": iter(range(zendesk_first, zendesk_first + counts["zendesk"])),
        "intercom": iter(increasing_ids(rng, 215_460_000_000_000, counts["intercom"], 900_000)),
        "freshdesk": iter(increasing_ids(rng, freshdesk_first, counts["freshdesk"], 3)),
    }
    return [next(sequences[tool]) for tool in tools]


def feedback(
    rng: random.Random,
    now: datetime,
    issues: tuple[Issue, ...],
    popularity: list[float],
    accounts: tuple[Account, ...],
    people: tuple[Person, ...],
    n: int,
) -> tuple[tuple[Feedback, ...], tuple[JiraLink, ...], tuple[TruthLink, ...]]:
    plans = dict(enumerate(a.plan for a in accounts))
    agents = {t: [p for p in people if p.role == "agent" and p.tool == t] for t in SUPPORT_TOOLS}
    customers = [p for p in people if p.role == "end-user" and p.account is not None]
    free = [p for p in people if p.role == "end-user" and p.account is None]
    chattiness = list(accumulate(rng.uniform(0.2, 3.0) for _ in customers))
    created = sorted(ago(rng, now, 0.01, 200) for _ in range(n))
    requesters = [
        rng.choice(free)
        if free and rng.random() < 0.08
        else rng.choices(customers, cum_weights=chattiness)[0]
        for _ in created
    ]
    ids = _feedback_ids(rng, [p.tool for p in requesters])
    items: list[Feedback] = []
    links: list[JiraLink] = []
    truth: list[TruthLink] = []
    for fid, born, requester in zip(ids, created, requesters, strict=True):
        tool = requester.tool
        kind = rng.choices(KINDS, KIND_WEIGHTS[tool])[0]
        issue, other = rng.choices(issues, cum_weights=popularity, k=2)
        if kind != "cited_key" or rng.random() > 0.12:  # a few items cite two keys
            other = issue
        subject, description, tags = _text(rng, kind, issue, other, requester.name.split()[0])
        if kind != "unrelated":
            truth += [
                TruthLink(tool, "feedback", str(fid), i.key, kind)
                for i in dict.fromkeys((issue, other))
            ]
        if kind == "zendesk_jira_link":
            linked = between(rng, born, min(born + timedelta(days=3), now))
            links.append(JiraLink(len(links) + 9001, fid, issue.id, issue.key, linked))
        updated = between(rng, born, min(born + timedelta(days=30), now - timedelta(minutes=5)))
        plan = plans.get(requester.account) if requester.account is not None else None
        items.append(
            Feedback(
                tool=tool,
                id=fid,
                subject=subject,
                description=description,
                status=_status(rng, (now - updated).total_seconds() / DAY),
                priority=rng.choice(("low", "normal", "normal", "high", "urgent", None)),
                type=rng.choice(("question", "task")),
                tags=tuple(tags + ([plan] if plan else [])),
                requester_id=requester.id,
                account=requester.account,
                assignee_id=rng.choice(agents[tool]).id,
                channel=rng.choice(("web", "email", "email", "chat")),
                created=born,
                updated=updated,
            )
        )
    return tuple(items), tuple(links), tuple(truth)


def _deal_ids(rng: random.Random, crms: list[str]) -> list[str]:
    hubspot = iter(increasing_ids(rng, 10_400_000_000, crms.count("hubspot"), 3_000_000))
    numbers = iter(increasing_ids(rng, 40_000, crms.count("salesforce"), 40))
    return [
        str(next(hubspot)) if crm == "hubspot" else salesforce_id("Opportunity", next(numbers))
        for crm in crms
    ]


def deals(
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
        index = rng.choices(range(len(accounts)), cum_weights=weights)[0]
        account = accounts[index]
        stage = rng.choices(("closedwon", "closedlost", "open"), (30, 20, 50))[0]
        if stage == "open":
            stage = rng.choice(OPEN_STAGES)
            created = ago(rng, now, 1, 150)
            close = now + timedelta(seconds=rng.randint(7 * DAY, 200 * DAY))
            updated = between(rng, created, recent)
        else:
            close = ago(rng, now, 3, 730)
            created = close - timedelta(seconds=rng.randint(14 * DAY, 150 * DAY))
            updated = between(rng, close, min(close + timedelta(days=10), recent))
        keys: tuple[str, ...] = ()
        if rng.random() < 0.45:
            picked = rng.choices(issues, cum_weights=popularity, k=rng.randint(1, 3))
            keys = tuple(dict.fromkeys(i.key for i in picked))
        drafts.append(
            Deal(
                crm=account.crm,
                id="",
                name=f"{account.name} – {rng.choice(names.DEAL_KINDS)}",
                amount=int(rng.triangular(5000, 250000, 30000) // 500 * 500),
                stage=stage,
                close_date=close,
                created=created,
                updated=updated,
                account=index,
                issue_keys=keys,
            )
        )
    drafts.sort(key=lambda d: d.created)
    # One bulk edit gave several deals the very same last-modified time, in both CRMs.
    bulk = ago(rng, now, 2, 20)
    bulk_edited = set(rng.sample(range(n), min(n, max(3, n // 10))))
    ids = _deal_ids(rng, [d.crm for d in drafts])
    result = tuple(
        replace(d, id=did, updated=bulk if i in bulk_edited and d.created < bulk else d.updated)
        for i, (did, d) in enumerate(zip(ids, drafts, strict=True))
    )
    truth = tuple(
        TruthLink(d.crm, "deal", d.id, key, "deal_field") for d in result for key in d.issue_keys
    )
    return result, truth
