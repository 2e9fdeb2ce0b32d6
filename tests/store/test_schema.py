"""Migrations: a fresh store is at the latest version, and opening again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.store import Store, open_store
from bridge.store import schema as schema_module
from bridge.store.schema import MIGRATIONS, migrate
from tests.store.resources import patient
from tests.stores import database_url

LATEST = MIGRATIONS[-1][0]


def _schema_versions(store: Store) -> list[tuple[int, str]]:
    with store.db.read() as cursor:
        cursor.execute("SELECT version, description FROM schema_version ORDER BY version")
        return [(int(v), d) for v, d in cursor.fetchall()]


def test_migrations_are_numbered_in_order() -> None:
    versions = [version for version, _, _ in MIGRATIONS]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_a_fresh_store_is_at_the_latest_version(store: Store) -> None:
    assert store.schema_version == LATEST
    assert _schema_versions(store) == [(v, d) for v, d, _ in MIGRATIONS]
    assert store.ping()


def test_opening_twice_is_idempotent(engine: str, tmp_path: Path) -> None:
    """A second process (or restart) on the same database neither re-runs nor duplicates."""
    with database_url(engine, tmp_path) as url:
        first = open_store(url)
        try:
            first.put(patient("p1"))
            second = open_store(url)
            try:
                assert second.schema_version == LATEST
                assert _schema_versions(second) == [(v, d) for v, d, _ in MIGRATIONS]
                assert second.read("Patient", "p1").version_id == 1
                assert migrate(second.db) == LATEST  # and once more, directly
                assert len(_schema_versions(second)) == len(MIGRATIONS)
            finally:
                second.close()
        finally:
            first.close()


def test_an_older_schema_is_brought_up_to_date(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database left at version 1 gets only the later migrations, its data kept."""
    with database_url(engine, tmp_path) as url:
        monkeypatch.setattr(schema_module, "MIGRATIONS", MIGRATIONS[:1])
        old = open_store(url)
        try:
            assert old.schema_version == 1
            old.put(patient("p1"))
        finally:
            old.close()
        monkeypatch.setattr(schema_module, "MIGRATIONS", MIGRATIONS)
        new = open_store(url)
        try:
            assert new.schema_version == LATEST
            assert [v for v, _ in _schema_versions(new)] == list(range(1, LATEST + 1))
            assert new.read("Patient", "p1").resource()["name"][0]["family"] == "GARNIER"
            new.cache_put("k", {"ok": True}, 1.0)  # a table of migration 2 exists
            assert new.cache_get("k") == ({"ok": True}, 1.0)
        finally:
            new.close()
