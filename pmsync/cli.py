"""The `pmsync` command: the sub-commands of the modules beside this one, put together.
Importing a command module registers nothing; the order here is the order of `--help`."""

from __future__ import annotations

import typer

from pmsync.check_cmd import check
from pmsync.db_cmd import db_app
from pmsync.deadletters_cmd import deadletters_app
from pmsync.demo_cmd import demo
from pmsync.eval_cmd import eval_app
from pmsync.explain_cmd import explain
from pmsync.links_cmd import links_app
from pmsync.propose_cmd import themes_app
from pmsync.report_cmd import report
from pmsync.sandbox_cmd import sandbox
from pmsync.serve_cmd import serve_deployments
from pmsync.status_cmd import status
from pmsync.sync_cmd import backfill, publish, sync
from pmsync.webhooks_cmd import webhooks

app = typer.Typer(
    help="pmsync: customer demand from support tools and CRMs, on the Jira issues it asks for.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(sync)
app.command()(publish)
app.command()(sandbox)
app.command("serve")(serve_deployments)
app.command()(demo)
app.command()(explain)
app.command()(status)
app.command()(backfill)
app.command()(check)
app.command()(report)
app.command()(webhooks)
app.add_typer(links_app, name="links")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(eval_app, name="eval")
app.add_typer(themes_app, name="themes")
app.add_typer(db_app, name="db")
