"""Migrations: a fresh store is at the latest version, and opening again changes nothing."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bridge.mapping import convert
from bridge.store import ResourceDeleted, Store, open_store
from bridge.store import schema as schema_module
from bridge.store.schema import MIGRATIONS, migrate
from tests.helpers import EXAMPLES
from tests.store.resources import patient, search_ids
from tests.store.test_concurrency import assert_consistent
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


def test_replicas_starting_together_on_an_empty_schema_all_migrate(
    engine: str, tmp_path: Path
) -> None:
    """Replicas (compose starts two) migrating a fresh schema at the same instant: each
    opens, none fails on the other's CREATE TABLE, and every migration runs once."""
    with database_url(engine, tmp_path) as url:
        starting = threading.Barrier(4)

        def start() -> Store:
            starting.wait()
            return open_store(url)

        with ThreadPoolExecutor(4) as pool:
            stores = list(pool.map(lambda _: start(), range(4)))
        try:
            for store in stores:
                assert store.schema_version == LATEST
            assert _schema_versions(stores[0]) == [(v, d) for v, d, _ in MIGRATIONS]
        finally:
            for store in stores:
                store.close()


def _load_schema3_rows(store: Store) -> dict[str, dict[str, Any]]:
    """Fill a store at schema 3 with the rows crbio-bridge wrote at that schema.

    `data/schema3-store.json` holds every row of a SQLite store written by the code of
    schema 3 (commit 64a5f49): glucose-two-units.xml then its replacement
    glucose-replacement.xml ingested, a Patient updated, one deleted and recreated,
    one deleted. Blobs are the UTF-8 text of their JSON.
    """
    tables = json.loads((Path(__file__).parent / "data" / "schema3-store.json").read_text())
    with store.db.transaction() as cursor:
        cursor.execute("DELETE FROM counter")
        for table, dump in tables.items():
            marks = ", ".join("?" for _ in dump["columns"])
            rows = [
                [v["utf8"].encode() if isinstance(v, dict) else v for v in row]
                for row in dump["rows"]
            ]
            if table in ("resource", "resource_history"):  # booleans stored as 0/1
                deleted = dump["columns"].index("deleted")
                rows = [[*r[:deleted], bool(r[deleted]), *r[deleted + 1 :]] for r in rows]
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(dump['columns'])}) VALUES ({marks})", rows
            )
    return {
        table: [dict(zip(dump["columns"], row, strict=True)) for row in dump["rows"]]
        for table, dump in tables.items()
    }


def test_a_store_of_schema_3_is_converted(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each version's JSON once, index rows keyed by resource number: every read, version,
    history and search of the old store gives what it gave, and ingestion goes on."""
    with database_url(engine, tmp_path) as url:
        monkeypatch.setattr(schema_module, "MIGRATIONS", MIGRATIONS[:3])
        old = open_store(url)
        try:
            assert old.schema_version == 3
            rows = _load_schema3_rows(old)
        finally:
            old.close()
        monkeypatch.setattr(schema_module, "MIGRATIONS", MIGRATIONS)
        new = open_store(url)
        try:
            assert new.schema_version == LATEST
            assert [v for v, _ in _schema_versions(new)] == list(range(1, LATEST + 1))
            _check_converted(new, rows)
            # ingestion goes on: the same document again rewrites only what differs from
            # what the old store holds (the Patient updated since, and whatever today's
            # converter writes differently), never an unchanged resource
            conversion = convert((EXAMPLES / "glucose-replacement.xml").read_bytes())
            before = {
                f"{r['resource_type']}/{r['id']}": _without_meta(r["content"]["utf8"])
                for r in rows["resource"]
                if not r["deleted"]
            }
            response, _ = new.ingest(conversion)
            written = [
                e["response"]["location"].split("/_history")[0]
                for e in response["entry"]
                if "outcome" not in e["response"]
            ]
            assert "Patient" in {w.split("/")[0] for w in written}
            for location in written:
                now = _without_meta(new.read(*location.split("/")).content.decode())
                assert before.get(location) != now, f"{location} rewritten unchanged"
            _, changed = new.ingest(convert((EXAMPLES / "haemogram-battery.xml").read_bytes()))
            assert changed
            assert_consistent(new)
        finally:
            new.close()


def _without_meta(content: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads(content)
    resource.pop("meta", None)
    return resource


def _check_converted(store: Store, rows: dict[str, list[dict[str, Any]]]) -> None:
    history: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows["resource_history"]:
        history.setdefault((row["resource_type"], row["id"]), []).append(row)
    for row in rows["resource"]:
        kind, resource_id = row["resource_type"], row["id"]
        if row["deleted"]:
            with pytest.raises(ResourceDeleted):
                store.read(kind, resource_id)
        else:
            assert store.read(kind, resource_id).content == row["content"]["utf8"].encode()
        versions = sorted(history[(kind, resource_id)], key=lambda h: -h["version_id"])
        assert [(s.version_id, s.deleted) for s in store.history(kind, resource_id)] == [
            (h["version_id"], bool(h["deleted"])) for h in versions
        ]
        for version in versions:
            if not version["deleted"]:
                stored = store.vread(kind, resource_id, version["version_id"])
                assert stored.content == version["content"]["utf8"].encode()
    current = {(r["resource_type"], r["id"]): r for r in rows["resource"]}
    for table, value in (("idx_token", "code"), ("idx_reference", "target")):
        for row in rows[table]:
            if current[(row["resource_type"], row["id"])]["deleted"]:
                continue
            if row["param"] == "patient" or row["param"].endswith(":text"):
                continue  # searched as subject / through :text
            query = [(row["param"], row[value])]
            if table == "idx_token" and row["system"]:
                query = [(row["param"], f"{row['system']}|{row['code']}")]
            assert row["id"] in search_ids(store, row["resource_type"], *query), query
    with store.db.read() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM resource_history h JOIN resource r ON r.resource_type = "
            "h.resource_type AND r.id = h.id AND r.version_id = h.version_id"
        )
        assert cursor.fetchone()[0] == 0  # the current version is not in the history
        cursor.execute("SELECT COUNT(*) FROM resource WHERE deleted AND LENGTH(content) > 0")
        assert cursor.fetchone()[0] == 0
