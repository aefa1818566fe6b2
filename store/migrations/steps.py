"""The step most revisions take: adding a table, which their downgrade drops again.

A revision states its new table as data (`NewTable`: the key, the other columns in order,
which may be null, its unique constraints and indexes; `NewTable.numbered` for one keyed by
an id the database numbers) and calls `create()` and `drop()`. The types of the columns many
tables share (SOURCE, RECORD_ID, ISSUE_KEY, TIME) are named here once.

Sharing this between revisions is safe: it only turns what a revision passes in into
Alembic operations (`op.create_table`, `op.create_index`, and their drops). Nothing here
reads `store.schema` or any other model, so a later change to the models never changes
what an old revision creates. For the same reason, what a step emits must never change:
a revision that needs something else spells it out itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

# The types of the columns many tables share, as the first revision declared them.
SOURCE, RECORD_ID, ISSUE_KEY = sa.String(length=32), sa.String(length=255), sa.String(length=64)
TIME = sa.DateTime(timezone=True)


@dataclass(frozen=True)
class NewTable:
    """A table a revision adds. Its columns are `key` (the primary key, in order) and then
    `columns`; every column is NOT NULL unless `optional` names it. `autoincrement`: the
    key is one integer that the database numbers itself."""

    name: str
    key: Mapping[str, TypeEngine[Any]]
    columns: Mapping[str, TypeEngine[Any]]
    optional: Sequence[str] = ()
    autoincrement: bool = False
    unique: Mapping[str, Sequence[str]] = field(default_factory=dict)
    indexes: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def numbered(
        cls,
        name: str,
        columns: Mapping[str, TypeEngine[Any]],
        optional: Sequence[str] = (),
        indexes: Mapping[str, Sequence[str]] | None = None,
        unique: Mapping[str, Sequence[str]] | None = None,
    ) -> NewTable:
        """A table keyed by one integer `id` that the database numbers itself."""
        return cls(
            name,
            key={"id": sa.Integer()},
            columns=columns,
            optional=optional,
            autoincrement=True,
            unique=unique or {},
            indexes=indexes or {},
        )

    def create(self) -> None:
        """Create the table, then its indexes."""
        op.create_table(
            self.name,
            *(self._column(name, type_) for name, type_ in {**self.key, **self.columns}.items()),
            sa.PrimaryKeyConstraint(*self.key),
            *(sa.UniqueConstraint(*cols, name=name) for name, cols in self.unique.items()),
        )
        for index, cols in self.indexes.items():
            op.create_index(index, self.name, list(cols), unique=False)

    def drop(self) -> None:
        """Drop the indexes, then the table."""
        for index in self.indexes:
            op.drop_index(index, table_name=self.name)
        op.drop_table(self.name)

    def _column(self, name: str, type_: TypeEngine[Any]) -> sa.Column[Any]:
        # A new Column on every call: one Column belongs to one Table, and a process may
        # upgrade more than one database (or the same one again after a downgrade).
        if self.autoincrement and name in self.key:
            return sa.Column(name, type_, autoincrement=True, nullable=False)
        return sa.Column(name, type_, nullable=name in self.optional)
