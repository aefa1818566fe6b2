"""`pmsync db`: the store's schema. A `pmsync` command or a flow migrates the store when
it starts; `pmsync db upgrade` does it on its own (before starting workers, say)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

db_app = typer.Typer(help="The store's database schema.", no_args_is_help=True)
console = Console()


def _url(database_url: str | None) -> str:
    if database_url:
        return database_url
    from connectors.settings import load_settings
    from models import ConfigError

    try:
        return load_settings().database_url
    except ConfigError as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@db_app.command()
def upgrade(
    database_url: Annotated[
        str | None,
        typer.Option(help="The store to migrate (default: PMSYNC_DATABASE_URL, the settings')."),
    ] = None,
) -> None:
    """Migrate the store to the schema this pmsync reads and writes (no change when it is
    there already; safe with other processes opening it)."""
    from store.base import open_engine
    from store.migrations import current_revision, upgrade_to_head

    engine = open_engine(_url(database_url))
    try:
        upgrade_to_head(engine)
        with engine.connect() as conn:
            revision = current_revision(conn)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    console.print(f"{shown}: schema at revision {revision} (head)")
