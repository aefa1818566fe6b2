"""`pmsync webhooks`: serve the webhook receiver with uvicorn, and the dispatcher that turns
the inbox into targeted `handle-events` runs beside it."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from pmsync.common import console, fail, quiet_prefect, settings_or_exit, url_option
from store import Store

MODES = ("auto", "prefect", "deployment", "inprocess")


def webhooks(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8766,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            envvar="PMSYNC_WEBHOOK_PUBLIC_URL",
            metavar="URL",
            callback=url_option(
                "--public-url (PMSYNC_WEBHOOK_PUBLIC_URL)", "https://hooks.example.com"
            ),
            help="Base URL the tools call (e.g. https://hooks.example.com), when a proxy "
            "in front changes scheme, host or path prefix: HubSpot signs the full URL.",
        ),
    ] = None,
    dispatch: Annotated[
        bool,
        typer.Option(
            help="Run the dispatcher in this process: stored events start targeted "
            "handle-events runs (Prefect flow runs when PREFECT_API_URL serves the "
            "deployment handle-events/handle-events, else without Prefect)."
        ),
    ] = True,
    mode: Annotated[
        str,
        typer.Option(
            help="How handle-events runs: auto; prefect (a Prefect flow run in this "
            "process); deployment (a run of the served deployment, in its own process); "
            "inprocess (without Prefect)."
        ),
    ] = "auto",
    window: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds events wait so that those on one record are handled together."
        ),
    ] = 0.2,
    poll_interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between looks at the inbox.")
    ] = 0.05,
) -> None:
    """Receive the tools' webhooks at POST /webhooks/<tool>: verify each signature, store
    the event in the inbox (PMSYNC_DATABASE_URL), answer 202.

    A tool accepts nothing (401) until its secret is set:
    jira PMSYNC_JIRA_WEBHOOK_SECRET;
    zendesk PMSYNC_ZENDESK_WEBHOOK_SECRET;
    hubspot PMSYNC_HUBSPOT_CLIENT_SECRET (the app's client secret);
    intercom PMSYNC_INTERCOM_CLIENT_SECRET (the app's client secret);
    freshdesk PMSYNC_FRESHDESK_WEBHOOK_SECRET (sent in the X-Pmsync-Secret header);
    salesforce PMSYNC_SALESFORCE_WEBHOOK_SECRET (sent in the header named by
    PMSYNC_SALESFORCE_WEBHOOK_HEADER, default X-Pmsync-Secret).

    GET /webhooks/health lists the armed tools and the inbox backlog.

    The dispatcher claims what the inbox holds, drops pmsync's own writes coming back,
    re-reads the named records from each tool and republishes only the issues they move.
    """
    import uvicorn

    from connectors import registry
    from webhooks import create_app

    settings = settings_or_exit()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if mode not in MODES:
        fail("--mode is " + ", ".join(MODES[:-1]) + " or " + MODES[-1])
    store = Store(settings.database_url, upgrade=True)
    receiver = create_app(settings, store, public_url=public_url)
    routes = [(v.name, v.webhook) for v in registry.vendors() if v.webhook]
    armed = [name for name, tool in routes if tool.verifier(settings)]
    unarmed = [tool.secret_env for name, tool in routes if name not in armed]
    console.print(f"Receiving webhooks for: {', '.join(armed) or 'no tool'}")
    if unarmed:
        console.print(f"Not armed (set to accept): {', '.join(unarmed)}")
    dispatcher = None
    if dispatch:
        from flows.logs import prefect_environment

        # Before Prefect is imported: pmsync's lines in the runs' Prefect logs, and Prefect's
        # own at WARNING, as in the runs `pmsync serve` starts.
        quiet_prefect()
        prefect_environment()
        from webhooks.dispatch import Dispatcher, choose_runner

        runner = choose_runner(settings, store, mode)
        dispatcher = Dispatcher(
            settings, store, runner=runner, window=window, poll_interval=poll_interval
        ).start()
        console.print(f"Dispatching through {type(runner).__name__}, window {window}s")
    from pmsync.runtime import sigterm_stops

    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found:
    # ours, so the dispatcher below stops too (Python's default would end the process).
    sigterm_stops()
    try:
        uvicorn.run(receiver, host=host, port=port, proxy_headers=True, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        if dispatcher is not None:
            dispatcher.stop()
