"""`pmsync sandbox`: serve the bundled vendor emulators."""

from __future__ import annotations

from typing import Annotated

import typer

from pmsync.common import fail, fraction_option, url_option


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 7,
    scale: Annotated[
        int,
        typer.Option(
            min=1,
            help="Multiply the world: 100 gives ~4,000 issues, "
            "~30,000 feedback items and ~8,000 deals.",
        ),
    ] = 1,
    rate_limits: Annotated[
        str,
        typer.Option(
            help="'real' enforces each vendor's documented limits with its "
            "own headers and 429 bodies; 'off' limits nothing."
        ),
    ] = "off",
    faults: Annotated[
        float,
        fraction_option(
            "Share of API requests that fail: 429s, 5xx, slow answers, dropped connections.",
            0.0,
            1.0,
        ),
    ] = 0.0,
    malformed: Annotated[
        float,
        fraction_option(
            "Share of records served with a broken field (listed at /_sandbox/faults).", 0.0, 1.0
        ),
    ] = 0.0,
    search_lag: Annotated[
        float, typer.Option(min=0.0, help="Seconds before a change shows in search results.")
    ] = 0.0,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            callback=url_option("--webhook-url", "http://127.0.0.1:8766"),
            help="Send every data change as the tool's signed webhook to URL/webhooks/<tool> "
            "(e.g. http://127.0.0.1:8766, where `pmsync webhooks` listens); secrets are "
            "'sandbox' for each tool. Log at /_sandbox/webhooks.",
        ),
    ] = None,
    tenant: Annotated[
        str,
        typer.Option(
            help="Tenant profile: full (every optional feature), minimal (no custom deal "
            "fields, an agent's Zendesk token, no Jira admin, no HubSpot notes scopes), "
            "multi-currency, or messy (nulls, missing objects, odd text).",
        ),
    ] = "full",
) -> None:
    """Serve the bundled sandbox (Jira, Zendesk, Intercom, Freshdesk, HubSpot, Salesforce
    emulators with a seeded world) until interrupted."""
    from sandbox.server import serve
    from sandbox.tenants import TENANTS

    if rate_limits not in ("off", "real"):
        fail("--rate-limits is 'off' or 'real'")
    if tenant not in TENANTS:
        fail(f"--tenant is one of {', '.join(TENANTS)}")
    _port_free(host, port)
    serve(
        host=host,
        port=port,
        seed=seed,
        scale=scale,
        rate_limits=rate_limits,
        faults=faults,
        malformed_rate=malformed,
        search_lag_s=search_lag,
        webhook_url=webhook_url,
        tenant=tenant,
    )


def _port_free(host: str, port: int) -> None:
    """Fail with one line, before the world is generated, when the sandbox cannot listen."""
    import errno
    import socket

    if not 0 <= port <= 65535:
        fail(f"--port {port} is not a port: use 1 to 65535 (0: any free port)")
    # The socket the sandbox opens (sandbox.server._listen), bound and closed at once; its
    # SO_REUSEADDR too, so a port left in TIME_WAIT counts as free, as it is to the sandbox.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except (socket.gaierror, UnicodeError):
            fail(f"--host {host!r} is not an address of this machine (e.g. 127.0.0.1)")
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is in use (another sandbox?): choose another "
                    "with --port, or --port 0 for any free port"
                )
            fail(f"cannot listen on {host}:{port}: {error.strerror} (check --host and --port)")
