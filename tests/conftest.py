"""Shared fixtures: a sandbox served over real HTTP, and stores on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from models import Settings
from store import Store

POSTGRES_URL = os.environ.get("PMSYNC_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[object]:
    from sandbox.server import start_sandbox

    server = start_sandbox(seed=7)
    yield server
    server.stop()


@pytest.fixture
def sandbox_url(sandbox_server: object) -> str:
    """The running sandbox, reset to its seeded world and zeroed counters."""
    url: str = sandbox_server.url  # type: ignore[attr-defined]
    requests.post(f"{url}/_sandbox/reset", json={"seed": 7}, timeout=30).raise_for_status()
    return url


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pmsync.db'}"


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


@pytest.fixture
def settings(sandbox_url: str, store_url: str) -> Settings:
    return Settings.for_sandbox(sandbox_url, database_url=store_url)


@contextmanager
def postgres_schema(prefix: str = "pmsync_test", options: str = "") -> Iterator[str]:
    """A database URL on PMSYNC_TEST_POSTGRES_URL whose tables live in a schema of their
    own, dropped after: parallel runs and other suites never see them."""
    assert POSTGRES_URL
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    query = {"options": f"-csearch_path={schema} {options}".strip()}
    url = make_url(POSTGRES_URL).update_query_dict(query)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
