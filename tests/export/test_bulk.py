"""Running exports on each engine: one snapshot, bounded files and chunks, and the jobs'
life (claims, heartbeats, hand-backs, cancellation, expiry)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge.export.bulk import Limits, Stopped, run_export
from bridge.export.jobs import Job, JobLost, JobStore
from bridge.export.request import parse_kickoff
from bridge.export.worker import ExportWorker
from bridge.mapping import convert
from bridge.store import Store
from bridge.store.indexing import date_range
from bridge.store.records import now_micros
from tests.helpers import example_files

SMALL = Limits(file_resources=4, chunk_bytes=600, batch_bytes=3000, page_rows=3)
URL = "https://h/fhir/$export"


def loaded(store: Store, count: int = 3) -> Store:
    for path in example_files()[:count]:
        store.ingest(convert(path.read_bytes()))
    return store


def queue(jobs: JobStore, job_id: str, pairs: list[tuple[str, str]], level: str = "system") -> Job:
    request = parse_kickoff(level, pairs, lenient=True)  # type: ignore[arg-type]
    assert jobs.create(job_id, URL, request.to_json(), "client", now_micros(), limit=5) is None
    job = jobs.claim("me", now_micros(), 0, 3)
    assert job is not None and job.id == job_id
    return job


def lines(jobs: JobStore, job_id: str, section: str = "output") -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for file in jobs.files(job_id):
        if file.section != section:
            continue
        data = b"".join(jobs.chunks(job_id, file))
        assert data.endswith(b"\n") and len(data) == file.bytes
        resources = [json.loads(line) for line in data.splitlines()]
        assert len(resources) == file.count
        found.setdefault(file.resource_type, []).extend(resources)
    return found


def current(store: Store, resource_type: str) -> dict[str, int]:
    with store.db.read() as cursor:
        cursor.execute(
            "SELECT id, version_id FROM resource WHERE resource_type = ? AND NOT deleted",
            (resource_type,),
        )
        return dict(cursor.fetchall())


def test_files_and_chunks_stay_small(store: Store) -> None:
    loaded(store)
    jobs = JobStore(store.db, retention=10**9)
    job = queue(jobs, "small", [])
    run_export(store, jobs, job, "me", limits=SMALL)
    files = jobs.files("small")
    assert all(f.count <= SMALL.file_resources for f in files)
    assert sum(f.chunks for f in files) > len(files)  # files of several chunks
    exported = lines(jobs, "small")
    for resource_type in ("Observation", "Patient", "Binary"):
        ids = [r["id"] for r in exported[resource_type]]
        assert sorted(ids) == sorted(current(store, resource_type)), resource_type
    finished = jobs.get("small")
    assert finished is not None and finished.status == "completed" and finished.owner is None
    assert finished.done == sum(f.count for f in files if f.section == "output")


def test_the_export_is_the_store_at_its_transaction_time(store: Store) -> None:
    """Writes that commit while an export runs are not in it, and are later than it."""
    loaded(store)
    jobs = JobStore(store.db, retention=10**9)
    job = queue(jobs, "cut", [("_type", "Observation,Patient,Encounter")])
    before = {t: current(store, t) for t in ("Observation", "Patient", "Encounter")}
    observation_id = sorted(before["Observation"])[0]
    encounter_id = sorted(before["Encounter"])[0]

    def write_meanwhile() -> Callable[[], bool]:
        done = []

        def stop() -> bool:
            if not done:  # the snapshot is taken and being read: change the store now
                old = store.read("Observation", observation_id).resource()
                store.put({**old, "status": "entered-in-error"})
                store.put({"resourceType": "Patient", "id": "arrived-meanwhile"})
                store.delete("Encounter", encounter_id)
                done.append(True)
            return False

        return stop

    run_export(store, jobs, job, "me", limits=SMALL, stop=write_meanwhile())
    exported = lines(jobs, "cut")
    by_id = {(r["resourceType"], r["id"]): r for rs in exported.values() for r in rs}
    for resource_type, versions in before.items():
        assert {r["id"] for r in exported[resource_type]} == set(versions)
    assert by_id[("Observation", observation_id)]["status"] != "entered-in-error"
    assert ("Encounter", encounter_id) in by_id  # deleted after the cut
    cut = jobs.get("cut").transaction_time  # type: ignore[union-attr]
    assert cut is not None
    assert all(date_range(r["meta"]["lastUpdated"])[0] <= cut for r in by_id.values())  # type: ignore[index]
    later = store.read("Patient", "arrived-meanwhile")
    assert later.last_updated > cut


def test_patient_level_follows_provenance_and_binary(store: Store) -> None:
    loaded(store, 4)
    jobs = JobStore(store.db, retention=10**9)
    patient = sorted(current(store, "Patient"))[0]
    job = queue(jobs, "one", [("patient", f"Patient/{patient}")], level="patient")
    run_export(store, jobs, job, "me", limits=SMALL)
    exported = lines(jobs, "one")
    documents = {f"DocumentReference/{d['id']}" for d in exported["DocumentReference"]}
    assert all(
        d["subject"]["reference"] == f"Patient/{patient}" for d in exported["DocumentReference"]
    )
    assert exported["Binary"] and all(
        b["securityContext"]["reference"] in documents for b in exported["Binary"]
    )
    assert exported["Provenance"]
    assert {p["id"] for p in exported["Patient"]} == {patient}


def test_a_stopping_process_hands_its_job_back(store: Store) -> None:
    loaded(store, 1)
    jobs = JobStore(store.db, retention=10**9)
    job = queue(jobs, "stopped", [])
    with pytest.raises(Stopped):
        run_export(store, jobs, job, "me", limits=SMALL, stop=lambda: True)
    jobs.release("stopped", "me")
    again = jobs.get("stopped")
    assert again is not None and again.status == "accepted" and again.attempts == 0
    assert jobs.files("stopped") == []


def test_a_cancelled_job_stops_at_its_next_write(store: Store) -> None:
    loaded(store, 1)
    jobs = JobStore(store.db, retention=10**9)
    job = queue(jobs, "cancelled", [])

    def cancel() -> bool:
        jobs.cancel("cancelled", now_micros())
        return False

    with pytest.raises(JobLost):
        run_export(store, jobs, job, "me", limits=SMALL, stop=cancel)
    ExportWorker(store, jobs).purge()
    assert jobs.get("cancelled") is None and jobs.files("cancelled") == []


def test_claims_take_stale_jobs_and_fail_the_ones_that_keep_dying(store: Store) -> None:
    jobs = JobStore(store.db, retention=10**9)
    jobs.create("dies", URL, parse_kickoff("system", [], lenient=False).to_json(), "c", 1, 5)
    for attempt in range(1, 4):
        job = jobs.claim(f"process-{attempt}", 100, 50, 3)  # every heartbeat is old
        assert job is not None and job.attempts == attempt and job.owner == f"process-{attempt}"
        assert jobs.claim("other", 100, 50, 3) is None  # heartbeat 100 is fresh
        with store.db.transaction() as cursor:
            cursor.execute("UPDATE export_job SET heartbeat = 0 WHERE id = 'dies'")
    assert jobs.claim("last", 100, 50, 3) is None
    failed = jobs.get("dies")
    assert failed is not None and failed.status == "failed"
    assert b"interrupted 3 times" in (failed.outcome or b"")
    with pytest.raises(JobLost):
        jobs.beat("dies", "process-3", 0, 200)


def test_expired_exports_are_deleted_unless_being_downloaded(store: Store) -> None:
    loaded(store, 1)
    jobs = JobStore(store.db, retention=0)  # expire as soon as finished
    for job_id in ("expired", "downloading"):
        run_export(store, jobs, queue(jobs, job_id, [("_type", "Patient")]), "me")
    jobs.touch("downloading", now_micros())
    ExportWorker(store, jobs, download_grace=3600).purge()
    assert jobs.get("expired") is None and jobs.files("expired") == []
    assert jobs.get("downloading") is not None and jobs.files("downloading")
    with store.db.read() as cursor:
        cursor.execute("SELECT COUNT(*) FROM export_chunk WHERE job_id = 'expired'")
        assert cursor.fetchone()[0] == 0
