"""The store: small repositories over one SQLAlchemy engine, SQLite (default) or
PostgreSQL. Which rows a change invalidates is not decided here (`services.invalidation`)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import Connection, Engine

from store.base import open_engine
from store.cursors import Cursors
from store.dead_letters import DeadLetters
from store.derived import Derived
from store.inbox import Inbox
from store.ledger import Ledger
from store.links import Links
from store.loop import Loop
from store.migrations import require_head, upgrade_to_head
from store.records import Records
from store.runs import Runs


class Store:
    """The repositories of one database. Its schema must be at head: a process's entry
    point (the `pmsync` command, a flow, `pmsync db upgrade`) opens it with
    `upgrade=True` once; any other open only checks the revision."""

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        self.engine: Engine = open_engine(url)
        if upgrade:
            upgrade_to_head(self.engine)
        else:
            require_head(self.engine)
        self.cursors = Cursors(self.engine)
        self.dead_letters = DeadLetters(self.engine)
        self.records = Records(self.engine, self.cursors, self.dead_letters)
        self.links = Links(self.engine)
        self.ledger = Ledger(self.engine)
        self.loop = Loop(self.engine)
        self.derived = Derived(self.engine)
        self.runs = Runs(self.engine)
        self.inbox = Inbox(self.engine)

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction for writes to several repositories (each takes `conn=`)."""
        return self.engine.begin()
