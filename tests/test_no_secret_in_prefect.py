"""No secret in Prefect: flow parameters never carry credentials or a database URL with a
password (Prefect stores every run's parameters in its database and shows them in its UI).
The flows read the store's URL and the tools' credentials from the environment, refuse a
`database_url` parameter with a password, and `pmsync serve` refuses such a deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from processes import prefect_env, run_python

from models import ConfigError, RecordKind
from tests.postgres import POSTGRES_URL, postgres_schema

PASSWORD = "S3cr3tPW-4417"
WITH_PASSWORD = [
    f"postgresql+psycopg://pmsync:{PASSWORD}@db.internal:5432/pmsync",
    f"postgresql://pmsync@db.internal/pmsync?password={PASSWORD}",
    f"mysql+pymysql://pmsync:{PASSWORD}@db.internal/pmsync",
]


@pytest.mark.parametrize("url", WITH_PASSWORD)
@pytest.mark.parametrize("flow", ["sync", "backfill", "handle_events"])
def test_a_database_url_parameter_with_a_password_is_refused(flow: str, url: str) -> None:
    """Every flow refuses it before touching anything, saying what to do instead, and the
    message does not repeat the password."""
    from flows.backfill import backfill
    from flows.events import handle_events
    from flows.sync import sync

    calls = {
        "sync": lambda: sync.fn(database_url=url),
        "backfill": lambda: backfill.fn(source="jira", since="2026-01-01", database_url=url),
        "handle_events": lambda: handle_events.fn(event_ids=[1], database_url=url),
    }
    with pytest.raises(ConfigError, match="PMSYNC_DATABASE_URL") as error:
        calls[flow]()
    assert PASSWORD not in str(error.value)


def test_a_garbled_database_url_parameter_is_refused_without_echoing_it() -> None:
    from flows.sync import settings_for

    with pytest.raises(ConfigError) as error:
        settings_for(None, f"::{PASSWORD}::not a url")
    assert PASSWORD not in str(error.value)


def test_a_database_url_without_a_password_is_still_taken(tmp_path: Path) -> None:
    """A SQLite file (or a PostgreSQL URL that authenticates another way) is no secret."""
    from flows.sync import settings_for

    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert settings_for("http://127.0.0.1:1", url).database_url == url


def test_serve_refuses_a_deployment_whose_parameters_hold_a_password() -> None:
    """A deployment's default parameters are stored in Prefect too: refused before the
    runner registers anything."""
    from deployments.serve import events_deployment, serve_flows

    served = events_deployment({"database_url": WITH_PASSWORD[0]})
    with pytest.raises(ConfigError, match="password"):
        serve_flows([served])


def test_the_webhook_dispatcher_refuses_to_start_runs_with_a_password(tmp_path: Path) -> None:
    """Each `handle-events` run the dispatcher starts stores its parameters in Prefect:
    a runner given a database URL with a password is refused before any run."""
    from store import Store
    from webhooks.dispatch import AsFlowRun, ThroughPrefect

    store = Store(f"sqlite:///{tmp_path / 'p.db'}", upgrade=True)
    for runner in (ThroughPrefect, AsFlowRun):
        with pytest.raises(ConfigError, match="PMSYNC_DATABASE_URL"):
            runner(store, parameters={"database_url": WITH_PASSWORD[0]})


# The scan: one real flow run through Prefect's temporary server (~20 s).
SCAN = r"""
import json, sys
from flows.sync import sync
from prefect.client.orchestration import get_client

result = sync(sandbox_url=sys.argv[1])
client = get_client(sync_client=True)
runs = client.read_flow_runs()
logs = []
while True:  # the server answers at most 200 a page
    page = client.read_logs(limit=200, offset=len(logs))
    logs += [entry.model_dump(mode="json") for entry in page]
    if len(page) < 200:
        break
dump = {
    "result": result,
    "flow_runs": [r.model_dump(mode="json") for r in runs],
    "task_runs": [t.model_dump(mode="json") for t in client.read_task_runs()],
    "logs": logs,
    "artifacts": [a.model_dump(mode="json") for a in client.read_artifacts()],
    "deployments": [d.model_dump(mode="json") for d in client.read_deployments()],
}
print(json.dumps(dump))
"""


def test_a_flow_run_leaves_no_secret_in_prefect(sandbox_url: str, tmp_path: Path) -> None:
    """Run the sync flow as `pmsync sync` and a deployment run it (through Prefect's
    temporary server), with the store's URL and every webhook secret in the environment as
    recognisable values, then read back everything Prefect kept (flow and task runs with
    their parameters, logs, artifacts) through its client: none of those values is there,
    and the run used the store named by the environment. With PMSYNC_TEST_POSTGRES_URL the
    store is PostgreSQL and its password is among the values looked for."""
    secrets = {
        f"PMSYNC_{tool.upper()}_{kind}": f"whsec-{tool}-{PASSWORD}"
        for tool, kind in [
            ("jira", "WEBHOOK_SECRET"),
            ("zendesk", "WEBHOOK_SECRET"),
            ("hubspot", "CLIENT_SECRET"),
            ("intercom", "CLIENT_SECRET"),
            ("freshdesk", "WEBHOOK_SECRET"),
            ("salesforce", "WEBHOOK_SECRET"),
        ]
    }
    with _store_url(tmp_path) as (database_url, password):
        env = prefect_env(
            tmp_path / "prefect",
            "INFO",
            **secrets,
            PMSYNC_DATABASE_URL=database_url,
            # pmsync's own log lines go to Prefect too, as an operator would have them.
            PREFECT_LOGGING_EXTRA_LOGGERS="pmsync",
        )
        done = run_python("-c", SCAN, sandbox_url, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        kept = done.stdout.strip().splitlines()[-1]
        dump: dict[str, Any] = json.loads(kept)
        from store import Store

        assert Store(database_url, upgrade=True).records.load(RecordKind.ISSUE), (
            "the run did not use PMSYNC_DATABASE_URL"
        )

    [run] = dump["flow_runs"]
    assert run["state"]["type"] == "COMPLETED"
    assert run["parameters"]["sandbox_url"] == sandbox_url
    assert run["parameters"]["database_url"] is None
    assert dump["logs"], "the scan should see the run's logs"
    looked_for = [*secrets.values(), database_url, *([password] if password else [])]
    found = [value for value in looked_for if value in kept]
    assert found == [], f"kept by Prefect: {found}"
    print(f"scanned {len(dump['logs'])} logs, {len(dump['task_runs'])} task runs")


class _store_url:
    """The run's store: a PostgreSQL schema when PMSYNC_TEST_POSTGRES_URL is set (its URL
    holds a password), else a SQLite file; yields (url, password or None)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.schema: Any = None

    def __enter__(self) -> tuple[str, str | None]:
        if not POSTGRES_URL:
            return f"sqlite:///{self.tmp_path / 'pmsync.db'}", None
        from sqlalchemy import make_url

        self.schema = postgres_schema()
        url = self.schema.__enter__()
        return url, make_url(url).password

    def __exit__(self, *exc: object) -> None:
        if self.schema is not None:
            self.schema.__exit__(*exc)
