"""`pmsync check`: the configuration, every tool, the store and Prefect, checked."""

from __future__ import annotations

import json

import typer
from rich import box

from connectors.settings import Settings, load_settings
from models import ConfigError
from pmsync.common import JsonOption, SandboxOption, console, folded_table


def check(sandbox: SandboxOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration and reach every configured tool with one cheap call,
    the store (connection, schema revision) and the Prefect API when PREFECT_API_URL is
    set. Says exactly what is wrong; exits 1 when anything is."""
    from flows.check import configuration_failure, run_checks

    try:
        settings = Settings.for_sandbox(sandbox) if sandbox else load_settings()
    except ConfigError as error:
        results = [configuration_failure(error)]
    else:
        results = run_checks(settings)
    ok = all(result.ok for result in results)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [result.as_dict() for result in results]}))
    else:
        table = folded_table("pmsync check", ("Check", "Result", "Detail"), box=box.SIMPLE_HEAD)
        for result in results:
            mark = "[green]ok[/green]" if result.ok else "[red]fail[/red]"
            if result.missing:
                mark = "[yellow]off[/yellow]"
            table.add_row(result.name, mark, result.detail)
        console.print(table)
    if not ok:
        raise typer.Exit(1)
