"""Stores for the tests: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from BRIDGE_TEST_POSTGRES_URL (default the local `test` database);
each test gets its own schema, dropped afterwards, so tests never see each other's
rows. Without a server the PostgreSQL runs are skipped with the reason, unless
BRIDGE_REQUIRE_POSTGRES=1 (set by .ci/run), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote

import pytest

from bridge.store import Store, open_store

POSTGRES_URL = os.environ.get(
    "BRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("BRIDGE_REQUIRE_POSTGRES", "") in ("1", "true", "yes")
ENGINES = ["sqlite", "postgresql"]


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # any failure to connect is a reason to skip
        return f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]}: {type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"BRIDGE_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema; yields a database URL whose connections use it."""
    import psycopg

    require_postgres()
    schema = f"crbio_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def database_url(engine: str, tmp_path: object) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path}/crbio.sqlite3"
    else:
        with postgres_schema() as url:
            yield url


@contextmanager
def open_test_store(engine: str, tmp_path: object) -> Iterator[Store]:
    with database_url(engine, tmp_path) as url:
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()
