"""SQLAlchemy store: records, links, cursors, publish ledger, dead letters, runs."""

from store.inbox import Inbox as Inbox
from store.leases import Leases as Leases
from store.store import (
    CONTEXT_KEY,
    EVERY_ISSUE,
    RELINK_ALL,
    BackfillConflict,
    DeadLetter,
    LedgerEntry,
    Store,
    kind_of,
)

__all__ = [
    "CONTEXT_KEY",
    "EVERY_ISSUE",
    "RELINK_ALL",
    "BackfillConflict",
    "DeadLetter",
    "LedgerEntry",
    "Store",
    "kind_of",
]
