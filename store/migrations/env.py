"""Alembic's environment for the store: the target is `store.schema.metadata` (with the
inbox's table, defined in store.inbox). `store.migrations.upgrade_to_head` passes its
connection in `config.attributes`; the command line uses PMSYNC_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import store.inbox  # noqa: F401  (registers the inbox table on the metadata)
from store.schema import metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite alters tables by copying them; batch mode is how Alembic does that.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    from models import CoreSettings

    return context.config.get_main_option("sqlalchemy.url") or CoreSettings.load().database_url


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.begin() as connection:
            _configure(connection)
    finally:
        engine.dispose()


run()
