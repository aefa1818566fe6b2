"""PostgreSQL for tests: the URL CI sets, and a schema of one's own on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

POSTGRES_URL = os.environ.get("PMSYNC_TEST_POSTGRES_URL")


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
