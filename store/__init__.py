"""SQLAlchemy store: repositories for records, links, cursors, the publish ledger, dead
letters, runs, the inbox and leases, on one engine (`Store`)."""

from models import RecordKind as RecordKind
from store.cursors import RELINK_ALL
from store.dead_letters import CONTEXT_KEY, DeadLetter
from store.inbox import Inbox as Inbox
from store.leases import Leases as Leases
from store.ledger import EVERY_ISSUE, LedgerEntry
from store.migrations import StoreNotAtHead
from store.record_rows import Removal, kind_of
from store.runs import BackfillConflict
from store.store import Store

__all__ = [
    "CONTEXT_KEY",
    "EVERY_ISSUE",
    "RELINK_ALL",
    "BackfillConflict",
    "DeadLetter",
    "LedgerEntry",
    "RecordKind",
    "Removal",
    "Store",
    "StoreNotAtHead",
    "kind_of",
]
