"""The store's schema history: Alembic migrations, run once when a process starts (the
`pmsync` command, a flow's entry point: `Store(url, upgrade=True)`) or by `pmsync db
upgrade`; any other `Store(url)` only checks that the database is at head.

Every change to the tables in `store.schema.metadata` (and `store.inbox`) comes with a
revision under `versions/`; `tests/test_migrations.py` fails when the two disagree. Make
one from the difference between the models and a database at head:

    python -m store.migrations revision --autogenerate -m "what changed"

(against PMSYNC_DATABASE_URL), then read it and rename nothing it did not mean to. A
revision that only adds tables may state each as `steps.NewTable` data, as most here do.
`python -m store.migrations current|history|upgrade head` work as with `alembic`.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger("pmsync.migrations")

HERE = Path(__file__).parent
# Any constant works, as long as every pmsync process uses the same one: PostgreSQL's
# advisory locks are per database, so two processes opening one store migrate in turn.
ADVISORY_LOCK = 0x706D73796E63  # "pmsync"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured in code (no alembic.ini): these scripts, and the connection to
    migrate when there is one (env.py falls back to PMSYNC_DATABASE_URL)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Revision files are modules mypy and ruff read: their names must not start with a digit.
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "store/migrations/versions holds no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


class StoreNotAtHead(RuntimeError):
    """The database is not at the schema this pmsync reads and writes."""


def require_head(engine: Engine) -> None:
    """Fail, saying what to run, unless the database is at head (one query)."""
    head = head_revision()
    with engine.connect() as conn:
        current = current_revision(conn)
        if current == head and inspect(conn).has_table("records"):
            return
    shown = engine.url.render_as_string(hide_password=True)
    state = f"at revision {current}" if current else "not created yet (or made before migrations)"
    raise StoreNotAtHead(
        f"the store {shown} is {state}, not at {head}: run `pmsync db upgrade` "
        "(PMSYNC_DATABASE_URL names the store)"
    )


def upgrade_to_head(engine: Engine) -> None:
    """Bring the store's database to the newest revision, safely from many processes.

    A database already at head costs one query. Otherwise one process at a time migrates:
    PostgreSQL through a transaction-scoped advisory lock, SQLite through `BEGIN
    IMMEDIATE` (its write lock, taken before the first read). A database that an older
    pmsync made with `create_all` (tables, no `alembic_version`) is adopted: the first
    revision keeps the tables it finds and creates the missing ones.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head and inspect(conn).has_table("records"):
            return
    # Alembic narrates every step at INFO; pmsync's own line below says what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with engine.connect() as conn:
        _lock(conn)
        current = current_revision(conn)  # again: another process may have just migrated
        tables = set(inspect(conn).get_table_names())
        if current is not None and not tables & _store_tables():
            # `metadata.drop_all` empties a store but leaves Alembic's own table behind:
            # a version with no tables to go with it means start again from nothing.
            log.warning("the store's tables are gone but alembic_version says %s", current)
            conn.execute(text("DELETE FROM alembic_version"))
            current = None
        if current != head:
            if current is None and "records" in tables:
                log.info("adopting a store created before migrations; upgrading to %s", head)
            else:
                log.info("upgrading the store from %s to %s", current or "nothing", head)
            command.upgrade(alembic_config(conn), "head")
        elif "records" not in tables:
            raise RuntimeError(
                f"the store is at revision {head} but its table 'records' is missing: "
                "it was changed outside pmsync; restore it or start from an empty database"
            )
        conn.commit()


def _store_tables() -> set[str]:
    import store.inbox  # noqa: F401  (its table is on the same metadata)
    from store.schema import metadata

    return set(metadata.tables)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    elif conn.dialect.name == "sqlite":
        # pysqlite begins transactions lazily, and only before DML: take the write lock now,
        # so two processes cannot both find no tables and both create them.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
