"""Several threads writing at once (SQLite WAL, the PostgreSQL pool): no lost version, no
duplicate `seq`, no half-written document, and no error from the race itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bridge.mapping import convert
from bridge.store import Store, parse_query
from tests.helpers import example_files
from tests.store.resources import observation, patient, row_counts, search_ids


def _run_together(workers: list[Callable[[], Any]]) -> None:
    """Start every worker at the same moment; re-raise the first error any of them met."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # collected, raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def assert_consistent(store: Store) -> None:
    """Every version is stored once, numbered 1..n: the current one in `resource`, those
    it replaced in the history; `seq` is unique and below the counter."""
    with store.db.read() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM resource")
        rows, distinct, highest = cursor.fetchone()
        assert rows == distinct
        cursor.execute("SELECT value FROM counter WHERE name = 'seq'")
        assert cursor.fetchone()[0] >= (highest or 0)
        cursor.execute(
            "SELECT r.resource_type, r.id, r.version_id, COUNT(h.version_id), "
            "MIN(h.version_id), MAX(h.version_id) FROM resource r LEFT JOIN resource_history h "
            "ON h.resource_type = r.resource_type AND h.id = r.id "
            "GROUP BY r.resource_type, r.id, r.version_id"
        )
        for resource_type, resource_id, version, count, low, high in cursor.fetchall():
            expected = (version - 1, 1, version - 1) if version > 1 else (0, None, None)
            assert (count, low, high) == expected, f"{resource_type}/{resource_id}"
        cursor.execute(
            "SELECT COUNT(*) FROM resource_history h WHERE NOT EXISTS (SELECT 1 FROM "
            "resource r WHERE r.resource_type = h.resource_type AND r.id = h.id)"
        )
        assert cursor.fetchone()[0] == 0


def test_concurrent_updates_of_one_resource_lose_no_version(store: Store) -> None:
    store.put(patient("p1", "START"))
    threads, updates = 6, 8

    def writer(n: int) -> Callable[[], None]:
        def work() -> None:
            for k in range(updates):
                store.put(patient("p1", f"W{n}-{k}"))

        return work

    _run_together([writer(n) for n in range(threads)])
    stored = store.read("Patient", "p1")
    assert stored.version_id == 1 + threads * updates
    families = [s.resource()["name"][0]["family"] for s in store.history("Patient", "p1")]
    assert len(set(families)) == len(families) == 1 + threads * updates
    assert stored.resource()["meta"]["versionId"] == str(stored.version_id)
    assert_consistent(store)


def test_concurrent_writers_of_new_and_shared_resources(store: Store) -> None:
    """Each thread creates its own Observations and updates the shared patient in between."""
    store.put(patient("shared"))
    threads, per_thread = 6, 10

    def writer(n: int) -> Callable[[], None]:
        def work() -> None:
            for k in range(per_thread):
                store.put(observation(f"t{n}-{k}", patient="shared", date=f"2024-11-{k + 1:02d}"))
                store.put(patient("shared", "SHARED", f"t{n}-{k}"))
                if k % 3 == 0:
                    store.create(patient("x", f"CREATED-{n}-{k}"))

        return work

    _run_together([writer(n) for n in range(threads)])
    assert len(search_ids(store, "Observation", ("patient", "shared"))) == threads * per_thread
    assert store.read("Patient", "shared").version_id == 1 + threads * per_thread
    assert len(search_ids(store, "Patient", ("family", "created"))) == threads * 4
    assert_consistent(store)


def test_concurrent_ingestion(store: Store) -> None:
    """Every example twice at once: they share patients, organisations and a device, and one
    replaces another. Each document's own resources are written once."""
    conversions = {path.stem: convert(path.read_bytes()) for path in example_files()}
    _run_together([lambda c=c: store.ingest(c) for c in conversions.values() for _ in range(2)])
    assert_consistent(store)
    replaced = "glucose-two-units"  # glucose-replacement replaces it
    for name, conversion in conversions.items():
        for entry in conversion.bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] not in ("Observation", "DiagnosticReport", "Binary"):
                continue
            versions = store.history(resource["resourceType"], resource["id"])
            if name == replaced and resource["resourceType"] != "Binary":
                assert [v.deleted for v in versions] == [True, False]
            else:
                assert [v.version_id for v in versions] == [1]
    reports = store.search(parse_query("DiagnosticReport", [("_count", "100")])).matches
    assert len(reports) == len(conversions) - 1
    statuses = [
        d.resource()["status"]
        for d in store.search(parse_query("DocumentReference", [("_count", "100")])).matches
    ]
    assert sorted(statuses) == ["current"] * (len(conversions) - 1) + ["superseded"]


def test_concurrent_transactions_that_fail_leave_nothing(store: Store) -> None:
    store.put(patient("p1"))
    before = row_counts(store)

    def failing(n: int) -> Callable[[], None]:
        def work() -> None:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": observation(f"o{n}"),
                        "request": {"method": "PUT", "url": f"Observation/o{n}"},
                    },
                    {
                        "resource": patient("p1", f"N{n}"),
                        "request": {"method": "PUT", "url": "Patient/p1", "ifMatch": 'W/"99"'},
                    },
                ],
            }
            try:
                store.transaction(bundle)
            except Exception as exc:
                assert type(exc).__name__ == "PreconditionFailed", exc
            else:
                raise AssertionError("the transaction should have failed")

        return work

    _run_together([failing(n) for n in range(6)])
    assert row_counts(store) == before
    assert_consistent(store)
