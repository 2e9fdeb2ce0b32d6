"""Bulk Data export speed and memory on a synthetic population, as ratios to a floor.

    python bench/export.py [--patients 200] [--docs-per-patient 10]
                           [--engines sqlite,postgresql] [--keep] [--reload]

The population is the search benchmark's (bench/population.py, loaded through the real
ingestion path by bench/search.py, cached the same way; PostgreSQL in its own schema).

- floor: every current resource read once, in `seq` pages of 1,000 rows, its bytes
  counted: the least an export can do.
- export: a system level job run to completion (`run_export`: snapshot, NDJSON lines,
  chunks written to the database); its ratio to the floor, and the peak of the memory
  Python allocated meanwhile (tracemalloc, a second run), against the size of the data.
- download: every file of that export over HTTP (uvicorn, streamed), against reading the
  same chunks straight from the database.
- one patient: `Patient/$export` for a single patient (the whole store is scanned for
  its compartment), as a ratio to the full export.
Every export is checked: as many lines as the store holds resources.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from population import Population  # noqa: E402
from search import PG_URL, Prepared, log, prepare_postgresql, prepare_sqlite, require  # noqa: E402

from bridge.api import create_app  # noqa: E402
from bridge.api.auth import ANONYMOUS  # noqa: E402
from bridge.export.bulk import run_export  # noqa: E402
from bridge.export.jobs import JobStore  # noqa: E402
from bridge.export.request import parse_kickoff  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from bridge.store import Store  # noqa: E402
from bridge.store.content import unpack  # noqa: E402
from bridge.store.indexing import SEARCH_PARAMETERS  # noqa: E402
from bridge.store.records import now_micros  # noqa: E402
from tests.serving import Serving  # noqa: E402


def floor(store: Store) -> tuple[float, int, int]:
    """Seconds, resources and bytes of one plain read of every current resource."""
    start, count, size = time.perf_counter(), 0, 0
    with store.db.read() as cursor:
        for resource_type in sorted(SEARCH_PARAMETERS):
            after = -1
            while True:
                cursor.execute(
                    "SELECT seq, content FROM resource WHERE resource_type = ? AND NOT deleted "
                    "AND seq > ? ORDER BY seq LIMIT 1000",
                    (resource_type, after),
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                count += len(rows)
                size += sum(len(unpack(row[1])) + 1 for row in rows)  # the JSON, as stored
                after = rows[-1][0]
    return time.perf_counter() - start, count, size


def export(store: Store, jobs: JobStore, pairs: list[tuple[str, str]], level: str) -> str:
    job_id = f"bench-{level}-{now_micros()}"
    request = parse_kickoff(level, pairs, lenient=False)  # type: ignore[arg-type]
    url = "http://bench/fhir/$export"
    jobs.create(job_id, url, request.to_json(), ANONYMOUS.name, now_micros())  # as served
    job = jobs.claim("bench", now_micros(), 0, 3)
    require(job is not None and job.id == job_id, "the benchmark's job was not claimed")
    assert job is not None
    run_export(store, jobs, job, "bench")
    return job_id


def measure(prepared: Prepared) -> dict[str, Any]:
    store = prepared.store
    jobs = JobStore(store.db, retention=3600 * 10**6)
    figures: dict[str, Any] = {"engine": prepared.engine}
    floors = [floor(store) for _ in range(2)]
    figures["floor_s"] = min(f[0] for f in floors)
    _, resources, size = floors[0]
    figures["resources"], figures["mib"] = resources, size / 2**20

    start = time.perf_counter()
    job_id = export(store, jobs, [], "system")
    figures["export_s"] = time.perf_counter() - start
    files = jobs.files(job_id)
    written = sum(f.count for f in files if f.section == "output")
    require(written == resources, f"{written} lines exported, {resources} in the store")

    tracemalloc.start()
    again = export(store, jobs, [], "system")
    figures["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    start = time.perf_counter()
    direct = sum(len(chunk) for f in files for chunk in jobs.chunks(job_id, f))
    figures["chunks_s"] = time.perf_counter() - start
    settings = Settings(offline=True, export_worker=False)
    with (
        Serving(create_app(settings, store=store)) as server,
        httpx.Client(timeout=120) as http,
    ):
        start = time.perf_counter()
        received = 0
        for f in files:
            with http.stream("GET", f"{server.url}/fhir/$export-file/{job_id}/{f.file_no}") as r:
                require(r.status_code == 200, f"file {f.file_no}: {r.status_code}")
                received += sum(len(part) for part in r.iter_raw())
        figures["http_s"] = time.perf_counter() - start
    require(received == direct, f"{received} bytes over HTTP, {direct} in the database")
    figures["export_mib"] = direct / 2**20

    with store.db.read() as cursor:
        cursor.execute("SELECT id FROM resource WHERE resource_type = 'Patient' LIMIT 1")
        patient = cursor.fetchone()[0]
    start = time.perf_counter()
    export(store, jobs, [("patient", f"Patient/{patient}")], "patient")
    figures["one_patient_s"] = time.perf_counter() - start
    for job in (job_id, again):
        jobs.purge(job)
    return figures


def report(f: dict[str, Any]) -> None:
    print(
        f"\n{f['engine']}: {f['resources']:,} resources, {f['mib']:.0f} MiB of JSON\n"
        f"  floor (read every resource once)  {f['floor_s']:7.2f} s\n"
        f"  system export (job to completion) {f['export_s']:7.2f} s   "
        f"ratio {f['export_s'] / f['floor_s']:.1f}   "
        f"{f['resources'] / f['export_s']:,.0f} resources/s\n"
        f"  peak Python memory of an export   {f['peak_mib']:7.1f} MiB "
        f"({f['peak_mib'] / f['mib'] * 100:.1f}% of the data)\n"
        f"  download over HTTP                {f['http_s']:7.2f} s   "
        f"ratio {f['http_s'] / f['chunks_s']:.1f} to reading the chunks   "
        f"{f['export_mib'] / f['http_s']:,.0f} MiB/s\n"
        f"  one patient's compartment         {f['one_patient_s']:7.2f} s   "
        f"ratio {f['one_patient_s'] / f['export_s']:.2f} to the full export"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--docs-per-patient", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--postgres-url", default=os.environ.get("CRBIO_BENCH_PG", PG_URL))
    parser.add_argument("--schema", default="crbio_bench_export")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--reload", action="store_true", help="ignore cached populations")
    args = parser.parse_args()
    args.http_ingest = 0
    population = Population(args.patients, args.docs_per_patient, args.seed)
    plans = list(population.plans())
    for engine in args.engines.split(","):
        prepare = prepare_sqlite if engine == "sqlite" else prepare_postgresql
        prepared = prepare(population, plans, args)
        if prepared is None:
            continue
        try:
            log(f"{engine}: measuring")
            report(measure(prepared))
        finally:
            prepared.store.close()
            prepared.cleanup()


if __name__ == "__main__":
    main()
