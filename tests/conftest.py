"""Shared fixtures: a sandbox served over real HTTP, and stores on SQLite or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Under pytest-xdist each worker is a process of its own with an in-process Prefect: two of
# them on one Prefect home would share (and lock) one SQLite database, so each worker takes a
# home of its own below the session's, before Prefect is first imported (just below). The
# suite sets what it needs of Prefect in the environment, never through a profile, so the
# workers' fresh homes read none.
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser() / _worker
    _home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(_home)

# Prefect's console log handler writes to the stderr it found when `prefect.main` was first
# imported, which sets up Prefect's logging. Imported first inside a CliRunner invocation (a
# command's lazy `from prefect import flow`), it would keep that invocation's stream and write to
# it once closed, so a later test's output carries logging errors: importing it here sets it up
# while the stream is the session's.
import prefect.main  # noqa: F401
import pytest
import requests
import responses

from connectors.settings import Settings
from store import Store
from tests.postgres import POSTGRES_URL, postgres_schema

# The fixtures that a topic's test files share live beside its helpers; registering the modules
# here makes those fixtures known by name to every test (each module's own helpers are
# imported by name where they are used).
pytest_plugins = [
    "hubspot_fixtures",
    "intercom_fixtures",
    "jira_fixtures",
    "salesforce_fixtures",
    "webhook_senders",
    "zendesk_fixtures",
]


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[object]:
    from sandbox.server import start_sandbox

    server = start_sandbox(seed=7)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    """A sandbox of the module's own (seed 7), for tests that change its settings or data."""
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7) as running:
        yield running


@pytest.fixture
def sandbox_url(sandbox_server: object) -> str:
    """The running sandbox, reset to its seeded world and zeroed counters."""
    url: str = sandbox_server.url  # type: ignore[attr-defined]
    requests.post(f"{url}/_sandbox/reset", json={"seed": 7}, timeout=30).raise_for_status()
    return url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mocked_site(fixture): the vendor's mocked site that `rsps` is in these tests"
    )


@pytest.fixture
def rsps(request: pytest.FixtureRequest) -> Iterator[responses.RequestsMock]:
    """Mocked HTTP that does not insist every answer is asked for, or the vendor's mocked site
    that a module names (`pytestmark = pytest.mark.mocked_site("zendesk_mock")`); modules
    that want another define their own."""
    site = request.node.get_closest_marker("mocked_site")
    if site is not None:
        yield request.getfixturevalue(site.args[0])
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no PMSYNC_ variable of the caller, no .env file (the test
    runs in its own folder), and a store of its own."""
    for name in list(os.environ):
        if name.startswith("PMSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PMSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'pmsync.db'}")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pmsync.db'}"


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url, upgrade=True)


# The oracle (tests/oracle.py) derives demand from the links the sandbox planted, not from
# text matching's judgement, so tests that compare with it count explicit links only;
# automatic text links are checked against the planted truth on their own
# (test_end_to_end.py::test_every_planted_explicit_link_is_found_and_text_links_are_precise).
EXPLICIT_ONLY = {"text_auto_threshold": 1.0}


@pytest.fixture
def settings(sandbox_url: str, store_url: str) -> Settings:
    return Settings.for_sandbox(sandbox_url, database_url=store_url, **EXPLICIT_ONLY)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store's URL: a SQLite file, then (with PMSYNC_TEST_POSTGRES_URL) PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pmsync.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PMSYNC_TEST_POSTGRES_URL not set: the PostgreSQL variant is skipped")
    with postgres_schema() as url:
        yield url
