"""Who a customer is, across tools: the same company in every support tool and CRM is one
account.

Accounts are joined when they share a company domain (free-mail domains never count), when
their names match closely (rapidfuzz, after dropping legal suffixes; names differing in a
number never match), when one names the other's id (a CRM id kept in a support tool's
external id), or when the manual mapping file says so. A requester with no account is a
customer of their own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rapidfuzz
from rapidfuzz import fuzz, process

from models import Account, Deal, Feedback

# The map's format is the configuration's: models reads it, for `pmsync check` and syncs.
from models.config_checks import read_account_map as read_account_map

NAME_MATCH = 92  # token-sort ratio; "Acme Corp" ~ "ACME Corporation" but not "Acme Health"
NAME_BLOCK = 1000
NUMBER = re.compile(r"\d+")
LEGAL = re.compile(
    r"\b(inc|incorporated|llc|ltd|limited|gmbh|ag|sa|sas|bv|plc|corp|corporation|co|company)\b\.?"
)


# What a saved directory was built by: this module's rules and rapidfuzz's scores. A saved
# directory (AccountDirectory.as_json) is read back only under the same rules.
RULES = hashlib.sha256(Path(__file__).read_bytes() + rapidfuzz.__version__.encode()).hexdigest()


@dataclass(frozen=True)
class Customer:
    key: str
    name: str


def normal_name(name: str) -> str:
    cleaned = LEGAL.sub(" ", name.lower().replace("&", " and "))
    return " ".join(re.sub(r"[^\w\s]", " ", cleaned).split())


class _Groups:
    """Union-find over (source, id) pairs."""

    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, item: tuple[str, str]) -> tuple[str, str]:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class AccountDirectory:
    def __init__(
        self,
        accounts: Iterable[Account],
        free_mail_domains: Iterable[str],
        manual: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.free_mail = {d.lower() for d in free_mail_domains}
        manual = manual or {}
        accounts = sorted(accounts, key=lambda a: (a.source, a.id))
        groups = _Groups()
        by_domain: dict[str, tuple[str, str]] = {}
        by_id: dict[str, tuple[str, str]] = {a.id: (a.source, a.id) for a in accounts}
        by_label: dict[str, tuple[str, str]] = {}
        for account in accounts:
            node = groups.find((account.source, account.id))
            for domain in self.company_domains(account):
                groups.union(node, by_domain.setdefault(domain, node))
            for other in account.external_ids:
                if other in by_id:
                    groups.union(node, by_id[other])
            if (account.source, account.id) in manual:
                label = manual[(account.source, account.id)]
                groups.union(node, by_label.setdefault(label, node))
        self._join_by_name(accounts, groups)

        members: dict[tuple[str, str], list[Account]] = {}
        for account in accounts:
            members.setdefault(groups.find((account.source, account.id)), []).append(account)
        self.by_record: dict[tuple[str, str], Customer] = {}
        self.by_domain: dict[str, Customer] = {}
        for group in members.values():
            customer = self._customer(group, manual)
            for account in group:
                self.by_record[(account.source, account.id)] = customer
                for domain in self.company_domains(account):
                    self.by_domain.setdefault(domain, customer)

    def as_json(self) -> dict[str, Any]:
        """Who each account and company domain is, for `from_json`."""
        return {
            "records": [[s, i, c.key, c.name] for (s, i), c in self.by_record.items()],
            "domains": [[d, c.key, c.name] for d, c in self.by_domain.items()],
        }

    @classmethod
    def from_json(cls, saved: dict[str, Any], free_mail_domains: Iterable[str]) -> AccountDirectory:
        """A directory as `as_json` saved it, without matching every account name again."""
        directory = cls.__new__(cls)
        directory.free_mail = {d.lower() for d in free_mail_domains}
        directory.by_record = {(s, i): Customer(k, n) for s, i, k, n in saved["records"]}
        directory.by_domain = {d: Customer(k, n) for d, k, n in saved["domains"]}
        return directory

    def company_domains(self, account: Account) -> list[str]:
        return [d for d in account.domains if d not in self.free_mail]

    def _join_by_name(self, accounts: list[Account], groups: _Groups) -> None:
        names = [normal_name(a.name) for a in accounts]
        exact: dict[str, int] = {}
        for i, name in enumerate(names):
            if name:
                groups.union(
                    (accounts[i].source, accounts[i].id),
                    (accounts[exact.setdefault(name, i)].source, accounts[exact[name]].id),
                )
        unique = list(exact)
        numbers = [NUMBER.findall(name) for name in unique]
        # Every pair at once, in C on every core; rows in blocks keep the matrix small.
        for start in range(0, len(unique), NAME_BLOCK):
            scores = process.cdist(
                unique[start : start + NAME_BLOCK],
                unique,
                scorer=fuzz.token_sort_ratio,
                score_cutoff=NAME_MATCH,
                dtype=np.uint8,
                workers=-1,
            )
            for row, column in zip(*np.nonzero(scores), strict=True):
                i, j = start + int(row), int(column)
                # "Orion Logistics 2" and "Orion Logistics 3" are two companies: names
                # that differ in a number never match, however alike the rest.
                if i < j and numbers[i] == numbers[j]:
                    a, b = accounts[exact[unique[i]]], accounts[exact[unique[j]]]
                    groups.union((a.source, a.id), (b.source, b.id))

    def _customer(self, group: list[Account], manual: dict[tuple[str, str], str]) -> Customer:
        labels = sorted(manual[(a.source, a.id)] for a in group if (a.source, a.id) in manual)
        domains = sorted({d for a in group for d in self.company_domains(a)})
        name = next((a.name for a in group if a.name), "") or (domains[0] if domains else "")
        if labels:
            key = labels[0] if ":" in labels[0] else f"domain:{labels[0]}"
        elif domains:
            key = f"domain:{domains[0]}"
        elif normal_name(name):
            key = f"name:{normal_name(name)}"
        else:
            key = f"{group[0].source}:{group[0].id}"
        return Customer(key, name or key)

    def for_feedback(self, item: Feedback) -> Customer:
        return self.for_requester(
            item.source, item.id, item.account_id, item.requester_email, item.requester_name
        )

    def for_requester(
        self,
        source: str,
        record_id: str,
        account_id: str | None,
        email: str | None,
        name: str | None,
    ) -> Customer:
        """The customer of a feedback item, from the only fields that decide it (which a
        store query can read without loading the item)."""
        if account_id and (source, account_id) in self.by_record:
            return self.by_record[(source, account_id)]
        email = (email or "").strip().lower()
        domain = email.rpartition("@")[2]
        if domain and domain not in self.free_mail:
            return self.by_domain.get(domain) or Customer(f"domain:{domain}", domain)
        if email:
            return Customer(f"person:{email}", name or email)
        return Customer(f"{source}:requester:{record_id}", name or "Unknown")

    def for_deal(self, deal: Deal) -> list[Customer]:
        return self.for_accounts(deal.source, deal.account_ids)

    def for_accounts(self, source: str, account_ids: Iterable[str]) -> list[Customer]:
        """The customers of a deal with these accounts in its tool."""
        found: dict[str, Customer] = {}
        for account_id in account_ids:
            customer = self.by_record.get((source, account_id))
            if customer:
                found.setdefault(customer.key, customer)
        return list(found.values())
