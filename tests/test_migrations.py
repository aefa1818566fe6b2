"""Alembic migrations from the first schema on, on SQLite and (when
PMSYNC_TEST_POSTGRES_URL is set) PostgreSQL: a new store ends at head with exactly the
tables the code declares, a store made by the old `create_all` is adopted, and several
processes opening one new store at once migrate it once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from processes import run_python
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

import store.inbox  # noqa: F401  (its table is part of the metadata compared)
from models import RecordKind
from pmsync.cli import app
from store import Store, StoreNotAtHead
from store.cursors import Cursors
from store.dead_letters import DeadLetters
from store.migrations import alembic_config, current_revision, head_revision
from store.records import Records
from store.schema import metadata
from tests.test_store import issue

ROOT = Path(__file__).parent.parent
# The tables the last pmsync before migrations created with `metadata.create_all`; later
# revisions add the rest.
BEFORE_MIGRATIONS = sorted(
    set(metadata.tables)
    - {
        "backfills",
        "pending_issues",
        "issue_signatures",
        "derived",
        "text_analyses",
        "record_signatures",
        "leases",
        "demand_history",
        "request_importance",
    }
)


@pytest.fixture
def database_url(any_store_url: str) -> str:
    """An empty database: a SQLite file, or a PostgreSQL schema of its own."""
    return any_store_url


def differences(url: str) -> list[object]:
    """What autogenerate would write to bring the database to the code's tables."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def test_a_new_store_ends_at_head_with_the_declared_tables(database_url: str) -> None:
    """A table or column the code declares but no migration creates fails at the first
    write in production; this catches it in CI, on both databases."""
    store = Store(database_url, upgrade=True)
    store.engine.dispose()

    assert revision_of(database_url) == head_revision()
    assert differences(database_url) == []
    engine = create_engine(database_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert {"inbox", "issue_states", "loop_notes", "link_decisions", "backfills"} <= tables


@pytest.mark.parametrize(
    "tables",
    [BEFORE_MIGRATIONS, ["records", "links", "cursors", "publish_ledger", "dead_letters", "runs"]],
    ids=["last-create-all", "early-create-all"],
)
def test_a_store_made_before_migrations_is_adopted_with_its_data(
    database_url: str, tables: list[str]
) -> None:
    """Upgrading pmsync must not lose a store an older version made with create_all (no
    alembic_version): its tables and rows stay, the missing tables appear, and it is at
    head from then on."""
    engine = create_engine(database_url)
    metadata.create_all(engine, tables=[metadata.tables[name] for name in tables])
    engine.dispose()
    engine = create_engine(database_url)
    # The store's write path, without its constructor's check of the revision.
    old = Records(engine, Cursors(engine), DeadLetters(engine))
    saved = issue()
    old.save_page([saved], stream="jira.issues", cursor="2024-05-01T00:00:00+00:00")
    engine.dispose()

    store = Store(database_url, upgrade=True)

    assert store.records.load(RecordKind.ISSUE) == [saved]
    assert store.cursors.get("jira.issues") == "2024-05-01T00:00:00+00:00"
    store.engine.dispose()
    assert revision_of(database_url) == head_revision()
    assert differences(database_url) == []


def test_a_store_emptied_by_drop_all_is_built_again(database_url: str) -> None:
    """`metadata.drop_all` leaves Alembic's own table behind; the next open must not
    trust that version row and use a store with no tables."""
    store = Store(database_url, upgrade=True)
    metadata.drop_all(store.engine)
    store.engine.dispose()

    store = Store(database_url, upgrade=True)

    assert store.records.count() == {} and store.runs.backfills() == []
    store.engine.dispose()
    assert differences(database_url) == []


def test_downgrade_to_nothing_and_back(database_url: str) -> None:
    """Every revision can be undone and redone: a bad release can be rolled back."""
    store = Store(database_url, upgrade=True)
    with store.engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    store.engine.dispose()

    Store(database_url, upgrade=True).engine.dispose()

    assert differences(database_url) == []


def test_processes_opening_a_new_store_at_once_all_succeed(database_url: str) -> None:
    """Workers started together open the same new store: one migrates, the others wait
    and find it done, instead of failing on tables another just created."""
    script = (
        "import sys; from store import Store; "
        "s = Store(sys.argv[1], upgrade=True); print(len(s.runs.backfills())); s.engine.dispose()"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]

    assert [p.returncode for p in processes] == [0] * 4, [err[-2000:] for _, err in outcomes]
    assert revision_of(database_url) == head_revision()
    assert differences(database_url) == []


def test_the_migration_command_line_reports_the_revision(database_url: str) -> None:
    """`python -m store.migrations current` is Alembic's command over pmsync's store
    (PMSYNC_DATABASE_URL), with no alembic.ini to keep in step."""
    Store(database_url, upgrade=True).engine.dispose()
    env = dict(os.environ, PMSYNC_DATABASE_URL=database_url)
    done = run_python("-m", "store.migrations", "current", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert head_revision() in done.stdout


def test_a_store_not_at_head_is_not_migrated_by_opening_it(database_url: str) -> None:
    """Migrations run once when a process starts (`upgrade=True`: a command, a flow) or
    by `pmsync db upgrade`; any other open only checks, and says what to run."""
    with pytest.raises(StoreNotAtHead, match="run `pmsync db upgrade`"):
        Store(database_url, upgrade=False)
    assert revision_of(database_url) is None

    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", database_url])

    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    store = Store(database_url, upgrade=False)
    assert store.records.count() == {}
    store.engine.dispose()
    assert differences(database_url) == []
