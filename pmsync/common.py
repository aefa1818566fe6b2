"""What every `pmsync` command shares: the consoles, failing with one line, the
configuration, and the --sandbox and --json options."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.settings import Settings, load_settings
from models import ConfigError

# Piped output (make, CI logs) gets a fixed width instead of rich's 80-column guess.
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


def fail(message: str) -> None:
    # One line however narrow the terminal: rich would wrap it at 80 columns on a pipe.
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def url_option(option: str, example: str) -> Callable[[str | None], str | None]:
    """A typer callback: the option's value is an http(s) URL, or the command stops with
    one line. `sync --sandbox --json` would otherwise read '--json' as the URL."""

    def checked(value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("-"):
            fail(f"{option} needs a URL (e.g. {example}) but got {value!r}: write {option} URL")
        from models.config_checks import http_url

        try:
            return http_url(value, example)
        except ValueError as error:
            fail(f"{option}: {error}")
            raise  # unreachable

    return checked


SandboxOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        metavar="URL",
        callback=url_option("--sandbox", "http://127.0.0.1:8765"),
        help="Point every tool at a running pmsync sandbox with its demo credentials.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def folded_table(title: str, columns: Iterable[str], **options: Any) -> Table:
    """A table whose long cells wrap inside their column rather than being cut."""
    table = Table(title=title, **options)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def fraction_option(help: str, low: float = 0, high: float = 1) -> typer.models.OptionInfo:
    """An option taking a share or a confidence; `--help` prints the bounds as given."""
    return typer.Option(min=low, max=high, help=help)


def csv_file(flag: str, help: str) -> typer.models.OptionInfo:
    """An option naming a CSV file that must exist (`pmsync eval`'s inputs)."""
    return typer.Option(flag, exists=True, dir_okay=False, readable=True, metavar="CSV", help=help)


def settings_or_exit(sandbox: str | None = None, **overrides: Any) -> Settings:
    try:
        if sandbox:
            return Settings.for_sandbox(sandbox, **overrides)
        return load_settings(**overrides)
    except ConfigError as error:
        fail(str(error))
        raise  # unreachable; keeps type checkers honest


def quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server's first start migrates a new database: give it time on slow disks.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if os.environ.get("PREFECT_HOME"):
        # Prefect creates its home without parents, then fails to open its database.
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
