"""Demand as a service: who the customers are (the account directory, saved while the
accounts it is built from are unchanged) and each issue's `DemandSummary`, for every issue
or some, computed a batch at a time."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from connectors import registry
from connectors.settings import Settings
from linking.accounts import RULES as ACCOUNT_RULES
from linking.accounts import AccountDirectory, read_account_map
from linking.demand import DemandCalculator
from models import DemandSummary, Link, RecordKind
from store import Store
from store.importance import Importances


def calculator_for(
    settings: Settings,
    store: Store,
    now: datetime | None = None,
    links: Iterable[Link] | None = None,
    directory: AccountDirectory | None = None,
    deal_owners: list[tuple[str, str, list[str]]] | None = None,
    revenue: dict[str, Decimal] | None = None,
    importances: dict[tuple[str, str], int] | None = None,
) -> DemandCalculator:
    """The demand calculator over the stored records; given `links`, it holds only what
    the summaries of their issues read: the feedback they name, the deals they name and
    every deal of the customers who asked. `deal_owners` (`Store.deal_accounts`), `revenue`
    (`crm_revenue`) and `importances` (people's) are for callers that build many."""
    directory = directory or account_directory(settings, store)
    if links is None:
        feedback = store.records.load(RecordKind.FEEDBACK)
        deals = store.records.load(RecordKind.DEAL)
    else:
        links = list(links)
        named = {(x.source, x.record_id) for x in links if x.kind == "feedback" and x.counts}
        feedback = store.records.load_pairs(RecordKind.FEEDBACK, named)
        asking = {directory.for_feedback(item).key for item in feedback}
        wanted = {(x.source, x.record_id) for x in links if x.kind == "deal" and x.counts}
        wanted |= {
            (source, deal_id)
            for source, deal_id, accounts in (deal_owners or store.records.deal_accounts())
            if any(c.key in asking for c in directory.for_accounts(source, accounts))
        }
        deals = store.records.load_pairs(RecordKind.DEAL, wanted)
    if revenue is None and settings.revenue_from == "crm_field":
        revenue = crm_revenue(settings, store, directory)
    return DemandCalculator(
        feedback,
        deals,
        directory,
        now or datetime.now(UTC),
        settings.revenue_window_days,
        revenue,
        Importances(store.engine).all() if importances is None else importances,
    )


def crm_revenue(
    settings: Settings, store: Store, directory: AccountDirectory
) -> dict[str, Decimal]:
    """Each customer's revenue from its CRM accounts' revenue field, each account once."""
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for crm in registry.with_role(registry.CRM):
        for account in store.records.load(RecordKind.ACCOUNT, source=crm):
            if account.revenue is not None:
                for customer in directory.for_accounts(crm, [account.id]):
                    revenue[customer.key] += account.revenue
    return dict(revenue)


def account_directory(settings: Settings, store: Store) -> AccountDirectory:
    """Who the customers are. Matching every account's name with every other's takes most
    of a small sync, so the directory is saved with a fingerprint of what it is built from
    (the accounts' versions, the settings that shape it, the rules) and rebuilt only when
    that changed."""
    manual = read_account_map(Path(settings.account_map)) if settings.account_map else {}
    inputs = [
        ACCOUNT_RULES,
        sorted(settings.free_mail_domains),
        sorted([*pair, label] for pair, label in manual.items()),
        store.records.versions(RecordKind.ACCOUNT),
    ]
    fingerprint = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()
    saved = store.derived.get("account_directory", fingerprint)
    if saved is not None:
        return AccountDirectory.from_json(saved, settings.free_mail_domains)
    directory = AccountDirectory(
        store.records.load(RecordKind.ACCOUNT), settings.free_mail_domains, manual
    )
    store.derived.save("account_directory", fingerprint, directory.as_json())
    return directory


SUMMARY_BATCH = 500


class Summaries(Mapping[str, DemandSummary]):
    """Demand summaries of some issues, computed a batch at a time as they are read in key
    order: a whole store's summaries, and the records behind them, are never in memory
    together. Read out of order, a batch is computed again."""

    def __init__(
        self,
        keys: Iterable[str],
        compute: Callable[[list[str]], dict[str, DemandSummary]],
        batch: int | None = None,
    ) -> None:
        self._keys = sorted(keys)
        self._at = {key: at for at, key in enumerate(self._keys)}
        self._compute = compute
        self._batch = batch or SUMMARY_BATCH
        self._held: dict[str, DemandSummary] = {}

    def __getitem__(self, key: str) -> DemandSummary:
        if key not in self._held:
            at = self._at[key]
            self._held = self._compute(self._keys[at : at + self._batch])
        return self._held[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._at


def demand(
    settings: Settings,
    store: Store,
    now: datetime | None = None,
    among: set[str] | None = None,
    directory: AccountDirectory | None = None,
) -> Summaries:
    """The demand summary of every issue (or of those `among`) that has links that count,
    or had demand published before (it may have fallen to nothing), a batch of issues at
    a time. `directory`: the account directory, when the caller has it."""
    now = now or datetime.now(UTC)
    directory = directory or account_directory(settings, store)
    owners = store.records.deal_accounts()
    revenue = (
        crm_revenue(settings, store, directory) if settings.revenue_from == "crm_field" else None
    )
    importances = Importances(store.engine).all()
    keys = issues_with_demand(store)
    if among is not None:
        keys &= among

    def compute(batch: list[str]) -> dict[str, DemandSummary]:
        counting = store.links.of_issues(batch, suggested=False)
        calculator = calculator_for(
            settings, store, now, counting, directory, owners, revenue, importances
        )
        by_issue: dict[str, list[Link]] = {}
        for link in counting:
            by_issue.setdefault(link.issue_key, []).append(link)
        return {key: calculator.summary(key, by_issue.get(key, [])) for key in batch}

    return Summaries(keys, compute)


def issues_with_demand(store: Store) -> set[str]:
    """The stored issues that have links that count, or had demand published before (it
    may have fallen to nothing): those whose summaries the tickets show."""
    return (store.links.linked_issue_keys() | store.ledger.keys()) & store.records.issue_keys()


def issues_asked_by(store: Store, directory: AccountDirectory, customers: set[str]) -> set[str]:
    """The issues these customers asked for: a deal of theirs moves the revenue and
    pipeline on every one of them. Read from who asked, not from the loaded feedback."""
    return {
        key
        for key, source, record_id, account_id, email, name in store.links.requesters()
        if directory.for_requester(source, record_id, account_id, email, name).key in customers
    }
