"""`crbio load`: a group of documents per transaction, and nothing half-written after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bridge.cli.load import load_documents
from bridge.mapping import convert
from bridge.store import Store, open_store, parse_query
from bridge.store.content import unpack
from bridge.store.indexing import index_rows
from bridge.store.records import ConflictError
from tests.helpers import example_files, renumbered
from tests.stores import database_url

CRBIO = Path(sys.executable).parent / "crbio"
INDEX_TABLES = ("idx_token", "idx_reference", "idx_date", "idx_quantity", "idx_string")


def archive(folder: Path, copies: int) -> list[Path]:
    """`copies` rounds of the example documents, each round a patient of its own."""
    folder.mkdir()
    sources = [path.read_bytes() for path in example_files()]
    paths = []
    for copy in range(copies):
        for n, xml in enumerate(sources):
            path = folder / f"{copy:03d}-{n:02d}.xml"
            path.write_bytes(renumbered(xml, copy, 1000 + copy))
            paths.append(path)
    return paths


def run_load(url: str, folder: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env |= {"BRIDGE_DATABASE_URL": url, "BRIDGE_OFFLINE": "1"}
    return subprocess.Popen(
        [str(CRBIO), "load", str(folder), "--jobs", "1", *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def documents_stored(store: Store) -> int:
    query = parse_query("DocumentReference", [("_summary", "count")])
    return int(store.search(query).total or 0)


def stored_keys(store: Store) -> set[tuple[str, str]]:
    with store.db.read() as cursor:
        cursor.execute("SELECT resource_type, id FROM resource")
        return {(kind, resource_id) for kind, resource_id in cursor.fetchall()}


def assert_whole_or_absent(store: Store, paths: list[Path]) -> tuple[int, int]:
    """Each document's own resources all stored or none; every stored resource with
    exactly the index rows its content gives. Returns (documents whole, absent)."""
    keys = {
        path: {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
        for path in paths
        for bundle in [convert(path.read_bytes()).bundle]
    }
    shared = Counter(key for found in keys.values() for key in found)
    stored = stored_keys(store)
    whole = absent = 0
    for path, found in keys.items():
        own = {key for key in found if shared[key] == 1}  # not the lab's, nor the patient's
        present = own & stored
        assert present in (set(), own), f"{path.name}: {len(present)} of {len(own)} stored"
        whole += present == own
        absent += not present
    with store.db.read() as cursor:
        cursor.execute("SELECT rid, content, deleted FROM resource")
        expected: dict[str, Counter[int]] = {table: Counter() for table in INDEX_TABLES}
        for rid, content, deleted in cursor.fetchall():
            if deleted:
                continue
            rows = index_rows(json.loads(unpack(content)))
            for table, found in zip(
                INDEX_TABLES,
                (rows.tokens, rows.references, rows.dates, rows.quantities, rows.strings),
                strict=True,
            ):
                if found:
                    expected[table][rid] = len(found)
        for table in INDEX_TABLES:
            cursor.execute(f"SELECT rid, COUNT(*) FROM {table} GROUP BY rid")
            assert Counter(dict(cursor.fetchall())) == expected[table], table
    return whole, absent


def test_a_killed_load_leaves_every_document_whole_or_absent(engine: str, tmp_path: Path) -> None:
    """SIGKILL in the middle of a load, then the load again: nothing half-written between,
    and what was stored before the kill is found unchanged."""
    paths = archive(tmp_path / "archive", copies=6)
    with database_url(engine, tmp_path) as url:
        store = open_store(url)  # migrated before the loader starts
        try:
            process = run_load(url, tmp_path / "archive", "--batch", "3")
            deadline = time.monotonic() + 60
            while documents_stored(store) < 3:  # a group committed, the rest to come
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the load did not start"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.communicate()
            whole, absent = assert_whole_or_absent(store, paths)
            assert whole >= 3 and absent > 0, (whole, absent)
            again = run_load(url, tmp_path / "archive", "--batch", "3")
            _, stderr = again.communicate(timeout=300)
            assert again.returncode == 0, stderr
            assert f"ingested {len(paths)} document(s) ({whole} already stored" in stderr
            whole, absent = assert_whole_or_absent(store, paths)
            assert (whole, absent) == (len(paths), 0)
        finally:
            store.close()


class _RefusingStore:
    """Refuses any group holding `bad`, and `bad` alone: the fallback to one at a time."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.stored: list[str] = []

    def ingest_many(self, conversions: list) -> list:  # type: ignore[type-arg]
        if any(c.document_id == self.bad for c in conversions):
            raise ConflictError("refused")
        return [self.ingest(c) for c in conversions]

    def ingest(self, conversion):  # type: ignore[no-untyped-def]
        if conversion.document_id == self.bad:
            raise ConflictError("refused")
        self.stored.append(conversion.document_id)
        return {}, True


def test_a_document_the_store_refuses_is_rejected_alone(tmp_path: Path) -> None:
    paths = archive(tmp_path / "archive", copies=1)
    (tmp_path / "archive" / "zz-not-cda.xml").write_text("<html/>")
    bad = convert(paths[3].read_bytes()).document_id
    store = _RefusingStore(bad)
    summary = load_documents(store, [tmp_path / "archive"], batch=4, jobs=1, max_bytes=10**7)
    assert summary.stored == len(paths) - 1 == len(store.stored)
    assert [Path(path).name for path, _ in summary.rejected] == [paths[3].name, "zz-not-cda.xml"]
    assert all(isinstance(reason, str) and reason for _, reason in summary.rejected)


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRIDGE_DATABASE_URL", raising=False)
