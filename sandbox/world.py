"""The seeded world behind every sandbox API: one vendor (Acme Analytics), its customers,
their feedback in three support tools and their deals in two CRMs, all derived from
`random.Random(seed)`. The remote links that the tools' Jira apps put on issues are drawn
last, from a stream of their own (sandbox.world_remote_links), so they change nothing else.

Times are offsets back from the `now` passed in, so two worlds made with the same seed and
the same `now` are equal. Generation is linear in the sizes; `scale` multiplies them.
"""

import random
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sandbox import names, world_activity, world_customers, world_remote_links
from sandbox.catalog import FEATURES
from sandbox.world_model import (
    CRMS,
    PROJECT,
    SUPPORT_TOOLS,
    Issue,
    Sizes,
    World,
    ago,
    between,
)

# What other modules take from here; the records' types are sandbox.world_model's.
__all__ = ["CRMS", "PROJECT", "SUPPORT_TOOLS", "World", "generate"]


def generate(seed: int = 7, now: datetime | None = None, scale: int = 1) -> World:
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    sizes = Sizes().scaled(scale)
    issues = _issues(rng, now, sizes.issues)
    accounts = world_customers.accounts(rng, now, sizes.accounts, sizes.crm_only_accounts)
    people = world_customers.people(rng, now, accounts, sizes.free_mail_people)
    # Zipf-like demand: a few features are asked for far more often than the rest.
    popularity = list(
        accumulate(1 / (rank + 1) ** 0.8 for rank in rng.sample(range(len(issues)), len(issues)))
    )
    feedback, links, feedback_truth = world_activity.feedback(
        rng, now, issues, popularity, accounts, people, sizes.feedback
    )
    deals, deal_truth = world_activity.deals(rng, now, issues, popularity, accounts, sizes.deals)
    truth = feedback_truth + deal_truth
    remote, remote_truth = world_remote_links.remote_links(
        seed, issues, popularity, feedback, deals, truth
    )
    return World(
        seed, now, issues, accounts, people, feedback, links, deals, truth + remote_truth, remote
    )


def _issues(rng: random.Random, now: datetime, n: int) -> tuple[Issue, ...]:
    specs = [(i % len(FEATURES), i // len(FEATURES)) for i in range(n)]
    rng.shuffle(specs)
    created = sorted(ago(rng, now, 200, 720) for _ in range(n))
    engineers = [name for name, title in names.STAFF if "Support" not in title]
    recent = now - timedelta(hours=1)
    issues = []
    for i, ((feature, phase), born) in enumerate(zip(specs, created, strict=True)):
        spec = FEATURES[feature]
        status = rng.choices(("To Do", "In Progress", "Done"), (45, 25, 30))[0]
        resolved = between(rng, born + timedelta(days=30), recent) if status == "Done" else None
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
                updated=between(
                    rng, touched, min(touched + timedelta(days=rng.randint(30, 400)), recent)
                ),
                resolved=resolved,
            )
        )
    return tuple(issues)


def _quarter(when: datetime) -> str:
    return f"{when.year}.{(when.month - 1) // 3 + 1}"
