"""One sync cycle as plain functions: pull every source, link, publish.

Flows wrap these steps as Prefect tasks; tests call them directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.base import Connector
from connectors.hubspot import HubSpotConnector
from connectors.jira import JiraConnector
from connectors.zendesk import ZendeskConnector
from flows.close_loop import close_loop
from flows.publish import publish_all
from linking.accounts import AccountDirectory
from linking.demand import DemandCalculator
from linking.references import deal_links, feedback_links
from models import DemandSummary, Link, Settings, ToolLink
from store import Store

log = logging.getLogger("pmsync.sync")
Step = Callable[[Callable[..., Any]], Callable[..., Any]]

CONNECTORS: dict[str, Callable[[Settings], Connector]] = {
    "jira": JiraConnector,
    "zendesk": ZendeskConnector,
    "hubspot": HubSpotConnector,
}


@dataclass
class SyncResult:
    pulled: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    links: int = 0
    published: dict[str, int] = field(
        default_factory=lambda: {"written": 0, "unchanged": 0, "failed": 0}
    )
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pulled": self.pulled,
            "dead_letters": self.dead_letters,
            "links": self.links,
            "published": self.published,
            "duration_s": round(self.duration_s, 2),
        }


def pull_source(settings: Settings, store: Store, source: str, full: bool) -> tuple[int, int]:
    """Pull one tool page by page; each page is committed with its cursor.

    Returns (records stored, dead letters)."""
    connector = CONNECTORS[source](settings)
    stored = dead = 0
    for page in connector.pull(store.cursor, full=full):
        store.save_page(
            page.records,
            page.dead,
            page.stream if page.cursor is not None else None,
            page.cursor,
            deleted=(page.source, page.kind, page.deleted_ids),
        )
        store.resolve_dead_letters(page.source, page.kind, (r.id for r in page.records))
        if page.complete_ids is not None:
            store.prune(page.source, page.kind, page.complete_ids)
        stored += len(page.records)
        dead += len(page.dead)
        if page.dead:
            log.warning(
                "%s: %d invalid %s records sent to the dead letters",
                source,
                len(page.dead),
                page.kind,
            )
    log.info("%s: %d records pulled, %d dead letters", source, stored, dead)
    return stored, dead


def link_all(settings: Settings, store: Store) -> int:
    """Recompute every explicit link from the stored records; returns the number of links."""
    known_keys = {issue.key for issue in store.load("issue")}
    by_ticket: dict[tuple[str, str], list[ToolLink]] = {}
    for tool_link in store.load("tool_link"):
        by_ticket.setdefault((tool_link.source, tool_link.record_id), []).append(tool_link)
    links: list[Link] = []
    owners: list[tuple[str, str]] = []
    for item in store.load("feedback"):
        owners.append((item.source, item.id))
        links.extend(feedback_links(item, by_ticket.get((item.source, item.id), []), known_keys))
    for deal in store.load("deal"):
        owners.append((deal.source, deal.id))
        links.extend(deal_links(deal, known_keys))
    # Links of records that are gone from the store go too.
    owners.extend((link.source, link.record_id) for link in store.links())
    store.replace_links(set(owners), links)
    log.info("%d links", len(links))
    return len(links)


def demand(
    settings: Settings, store: Store, now: datetime | None = None
) -> dict[str, DemandSummary]:
    """The demand summary of every issue that has links, or had them when last published."""
    directory = AccountDirectory(store.load("account"), settings.free_mail_domains)
    calculator = DemandCalculator(
        store.load("feedback"),
        store.load("deal"),
        directory,
        now or datetime.now(UTC),
        settings.revenue_window_days,
    )
    by_issue: dict[str, list[Link]] = {}
    for link in store.links():
        by_issue.setdefault(link.issue_key, []).append(link)
    known = {issue.key for issue in store.load("issue")}
    keys = (set(by_issue) | set(store.ledger())) & known
    return {key: calculator.summary(key, by_issue.get(key, [])) for key in sorted(keys)}


def run_cycle(
    settings: Settings, store: Store, full: bool = False, step: Step = lambda fn: fn
) -> SyncResult:
    """Pull, link, summarise and publish once. `step` wraps each step (as a Prefect task)."""
    started = time.monotonic()
    result = SyncResult()
    run_id = store.start_run()
    try:
        for source in settings.sources:
            stored, dead = step(pull_source)(settings, store, source, full)
            result.pulled[source] = stored
            result.dead_letters += dead
        result.links = step(link_all)(settings, store)
        if settings.jira_url:
            summaries = step(demand)(settings, store)
            result.published = step(publish_all)(settings, store, summaries).counts()
            if settings.close_loop:
                step(close_loop)(settings, store)
    except BaseException:
        result.duration_s = time.monotonic() - started
        store.finish_run(run_id, "failed", result.as_dict())
        raise
    result.duration_s = time.monotonic() - started
    store.finish_run(
        run_id, "ok" if not result.published["failed"] else "partial", result.as_dict()
    )
    return result
