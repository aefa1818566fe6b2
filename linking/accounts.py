"""Who a customer is, across tools: the same company in Zendesk and HubSpot is one account.

An account is known by its company domain when it has one ("domain:acme.com"); free-mail
domains never identify a company; a requester with no account is a customer of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from models import Account, Deal, Feedback


@dataclass(frozen=True)
class Customer:
    key: str
    name: str


class AccountDirectory:
    def __init__(self, accounts: Iterable[Account], free_mail_domains: Iterable[str]) -> None:
        self.free_mail = {d.lower() for d in free_mail_domains}
        self.by_record: dict[tuple[str, str], Customer] = {}
        self.by_domain: dict[str, Customer] = {}
        for account in sorted(accounts, key=lambda a: (a.source, a.id)):
            domains = [d for d in account.domains if d not in self.free_mail]
            known = next((self.by_domain[d] for d in domains if d in self.by_domain), None)
            customer = known or Customer(
                f"domain:{domains[0]}" if domains else f"{account.source}:{account.id}",
                account.name or (domains[0] if domains else account.id),
            )
            self.by_record[(account.source, account.id)] = customer
            for domain in domains:
                self.by_domain.setdefault(domain, customer)

    def for_feedback(self, item: Feedback) -> Customer:
        if item.account_id and (item.source, item.account_id) in self.by_record:
            return self.by_record[(item.source, item.account_id)]
        email = (item.requester_email or "").strip().lower()
        domain = email.rpartition("@")[2]
        if domain and domain not in self.free_mail:
            return self.by_domain.get(domain) or Customer(f"domain:{domain}", domain)
        if email:
            return Customer(f"person:{email}", item.requester_name or email)
        return Customer(f"{item.source}:requester:{item.id}", item.requester_name or "Unknown")

    def for_deal(self, deal: Deal) -> list[Customer]:
        found: dict[str, Customer] = {}
        for account_id in deal.account_ids:
            customer = self.by_record.get((deal.source, account_id))
            if customer:
                found.setdefault(customer.key, customer)
        return list(found.values())
