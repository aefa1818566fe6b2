"""`pmsync serve`: every deployment with its schedule, served from this process."""

from __future__ import annotations

from models import ConfigError
from pmsync.common import console, fail, quiet_prefect


def serve_deployments() -> None:
    """Run every deployment with its schedule in this process, for a single box: the
    scheduled sync (PMSYNC_SYNC_CRON, every 15 minutes by default), a sync per tool, the
    backfill and the event handler; one line per run as it starts and ends. Runs go to
    PREFECT_API_URL, or else to a local Prefect server kept while serve runs (under
    PREFECT_HOME), which `pmsync sync` and the other commands use too meanwhile."""
    from deployments.local_server import prefect_api
    from flows.logs import prefect_environment
    from pmsync.runtime import sigterm_stops

    quiet_prefect()
    prefect_environment()
    sigterm_stops()  # until the runner takes SIGTERM over for its graceful stop
    try:
        # The server first: Prefect reads its API's URL when it is imported.
        with prefect_api() as url:
            console.print(f"Flow runs go to {url}", highlight=False)
            from deployments.serve import main

            main()
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass
    console.print("serve stopped")
