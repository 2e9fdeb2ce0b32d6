"""Ingestion against conversion, storage per document, and a mixed load over HTTP.

    python bench/ingest.py [--engines sqlite,postgresql] [--quick] [--rounds 42]
                           [--clients 8] [--seconds 60] [--reload]

1. The base: bench/population.py's documents (900 patients × 10: 9,000 documents,
   108k Observations; --quick: 60 × 5), loaded through the real path and cached as
   bench/search.py caches its populations (a SQLite file under bench/.cache/, the
   PostgreSQL database crbio_bench_ingest). Each run works on a copy (a file copy;
   CREATE DATABASE … TEMPLATE), so the base never changes.
2. Ingestion: distinct documents, the ANS examples (../shared/corpus/cr-bio, else
   fhir_examples) renumbered round after round (new document ids and patients; their
   PDF copies kept), converted then stored in this process, rounds taking turns: one
   transaction per document (`store.ingest`, the $ingest path) and one transaction
   per round (`store.ingest_many`, the path of `crbio load`). Storage time / convert
   time per document, target ≤ 2; in the same run, the time of a transaction that
   writes one small resource (the disk's sync: the floor of a transaction). The last
   10% of the single-transaction series must run within 20% of its first 10%. Bytes
   on disk per document and per source byte, for the base population and for these
   documents (target ≤ 3).
3. Mixed load: the application under uvicorn in its own process on the copy, and
   `--clients` client processes (each its own interpreter) for `--seconds`, each
   drawing at random POST /fhir/$ingest of a new renumbered document (1 in 5), the
   hot search of bench/search.py (3 in 5) and ConceptMap/$translate (1 in 5), one
   request at a time, `--rate` per second at random times (a bounded load, each
   request timed from when it was due; --rate 0: as fast as answered, where latency
   only mirrors throughput). Per operation: count, p50, p99, max and errors. Targets
   on PostgreSQL: 0 errors, $ingest p99 < 250 ms, search p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from population import LOINC, Population  # noqa: E402
from search import (  # noqa: E402
    CACHE,
    PG_URL,
    Prepared,
    ServerProcess,
    log,
    make_searches,
    patient_ids,
    percentile,
    prepare_postgresql,
    prepare_sqlite,
)

from bridge.mapping import convert  # noqa: E402
from bridge.store import Store, open_store  # noqa: E402
from tests.helpers import CORPUS, EXAMPLES, renumbered  # noqa: E402

RATIO_TARGET = 2.0
DRIFT_TARGET = 0.20
BYTES_TARGET = 3.0
INGEST_P99_MS, SEARCH_P99_MS = 250.0, 50.0
BASE_DATABASE = "crbio_bench_ingest"
WORK_DATABASE = "crbio_bench_ingest_work"
SCHEMA = "crbio_bench"
FIRST_PATIENT = 9_900_000  # patients of the timed documents; clients use 1M to 9M
TRANSLATE_CODES = ("14749-6", "2345-7", "40193-5", "53049-3", "718-7", "2093-3")


def source_documents() -> list[bytes]:
    folder = CORPUS if CORPUS.is_dir() else EXAMPLES
    return [path.read_bytes() for path in sorted(folder.glob("*.xml"))]


# The store on a copy of the base ---------------------------------------------------------


@dataclass
class Work:
    engine: str
    url: str
    store: Store
    base_documents: int
    base_source_bytes: int
    base_bytes: int
    cleanup: Any = None
    base_load: Any = None  # bench/search.py's LoadStats of the base population


def _base_args(args: Any) -> Any:
    return types.SimpleNamespace(
        workers=args.workers,
        http_ingest=0,
        reload=args.reload,
        keep=True,
        postgres_url=f"{args.postgres_url.rsplit('/', 1)[0]}/{BASE_DATABASE}",
        schema=SCHEMA,
    )


def work_sqlite(population: Population, plans: list[Any], args: Any) -> Work:
    prepared = prepare_sqlite(population, plans, _base_args(args))
    prepared.store.close()
    base = Path(prepared.url.removeprefix("sqlite:///"))
    copy = CACHE / "ingest-work.sqlite3"
    for stale in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(base, copy)
    url = f"sqlite:///{copy}"
    store = open_store(url)

    def cleanup() -> None:
        for path in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
            path.unlink(missing_ok=True)

    return Work("sqlite", url, store, len(plans), 0, sqlite_bytes(store), cleanup, prepared.stats)


def sqlite_bytes(store: Store) -> int:
    """The pages in use: the write-ahead log folded in first, free pages left out."""
    path = store.db.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def work_postgresql(population: Population, plans: list[Any], args: Any) -> Work | None:
    import psycopg

    try:
        admin = psycopg.connect(args.postgres_url, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        print(f"postgresql: unreachable at {args.postgres_url} ({str(exc).strip()[:200]}); skipped")
        return None
    for name in (BASE_DATABASE,):
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    prepared: Prepared | None = prepare_postgresql(population, plans, _base_args(args))
    assert prepared is not None
    prepared.store.close()
    prepared.cleanup()
    admin.execute(f'DROP DATABASE IF EXISTS "{WORK_DATABASE}"')
    start = time.perf_counter()
    admin.execute(
        f'CREATE DATABASE "{WORK_DATABASE}" TEMPLATE "{BASE_DATABASE}" STRATEGY FILE_COPY'
    )
    log(f"postgresql: working copy {WORK_DATABASE} made in {time.perf_counter() - start:.0f} s")
    url = f"{args.postgres_url.rsplit('/', 1)[0]}/{WORK_DATABASE}?options=-csearch_path%3D{SCHEMA}"
    store = open_store(url)

    def cleanup() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{WORK_DATABASE}"')
        admin.close()

    bytes_ = postgresql_bytes(store)
    return Work("postgresql", url, store, len(plans), 0, bytes_, cleanup, prepared.stats)


def postgresql_bytes(store: Store) -> int:
    """Every table of the schema with its indexes and TOAST."""
    with store.db.read() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN "
            "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind = 'r'"
        )
        return int(cursor.fetchone()[0])


def disk_bytes(work: Work) -> int:
    return sqlite_bytes(work.store) if work.engine == "sqlite" else postgresql_bytes(work.store)


# Ingestion against conversion ------------------------------------------------------------


@dataclass
class IngestFigures:
    """Milliseconds per document, warm-up left out: `single` one transaction per document
    (the $ingest path), `grouped` a round per transaction (crbio load), `convert` both."""

    round_size: int
    documents: int = 0
    source_bytes: int = 0
    convert_ms: list[float] = field(default_factory=list)
    single_ms: list[float] = field(default_factory=list)
    single_convert_ms: list[float] = field(default_factory=list)
    grouped_ms: list[float] = field(default_factory=list)
    grouped_convert_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)
    stored_bytes: int = 0

    @staticmethod
    def ratio(stored: list[float], converted: list[float]) -> float:
        return sum(stored) / sum(converted) if converted else float("nan")

    def window(self) -> int:
        """Documents in 10% of the single-transaction series, in whole rounds."""
        rounds = len(self.single_ms) // self.round_size
        return max(1, rounds // 10) * self.round_size

    @property
    def first_rate(self) -> float:
        part = self.single_ms[: self.window()]
        return 1000 * len(part) / sum(part)

    @property
    def last_rate(self) -> float:
        part = self.single_ms[-self.window() :]
        return 1000 * len(part) / sum(part)

    @property
    def drift(self) -> float:
        """How much slower the last 10% ran than the first 10%."""
        return self.first_rate / self.last_rate - 1


def measure_ingestion(work: Work, documents: list[bytes], args: Any) -> IngestFigures:
    """Rounds of renumbered documents, by turns one transaction per document and one
    transaction per round; the first `--warmup` rounds are not timed."""
    figures = IngestFigures(len(documents))
    before = disk_bytes(work)
    for round_ in range(args.rounds):
        grouped = round_ % 2 == 1
        timed = round_ >= args.warmup
        conversions, convert_ms, store_ms = [], [], []
        for n, source in enumerate(documents):
            xml = renumbered(source, round_ * len(documents) + n, FIRST_PATIENT + round_)
            start = time.perf_counter()
            conversions.append(convert(xml))
            convert_ms.append((time.perf_counter() - start) * 1000)
            figures.documents += 1
            figures.source_bytes += len(xml)
            if not grouped:
                start = time.perf_counter()
                _, changed = work.store.ingest(conversions[-1])
                store_ms.append((time.perf_counter() - start) * 1000)
                if not changed:
                    raise RuntimeError(f"round {round_}, document {n}: stored nothing")
        if grouped:
            start = time.perf_counter()
            results = work.store.ingest_many(conversions)
            store_ms = [(time.perf_counter() - start) * 1000 / len(conversions)] * len(conversions)
            if not all(changed for _, changed in results):
                raise RuntimeError(f"round {round_}: some document stored nothing")
        if timed:
            (figures.grouped_ms if grouped else figures.single_ms).extend(store_ms)
            target = figures.grouped_convert_ms if grouped else figures.single_convert_ms
            target.extend(convert_ms)
            figures.convert_ms.extend(convert_ms)
            start = time.perf_counter()  # the floor of a transaction: one small write
            work.store.put({"resourceType": "Patient", "id": f"commit-floor-{round_}"})
            figures.commit_ms.append((time.perf_counter() - start) * 1000)
        if round_ % 10 == 9:
            log(f"{work.engine}: {figures.documents} documents stored")
    figures.stored_bytes = disk_bytes(work) - before
    return figures


# Mixed load --------------------------------------------------------------------------------

Sample = tuple[str, float, bool]  # operation, milliseconds, answered as expected


def _client(
    index: int,
    url: str,
    seconds: float,
    start_at: float,
    rate: float,
    searches: list[list[tuple[str, str]]],
    documents: list[bytes],
    seed: int,
) -> tuple[list[Sample], list[str]]:
    """One client process, one request at a time until the time is up.

    `rate` > 0: requests arrive at random (a Poisson process) at `rate` per second, and
    each is timed from when it was due, so a request that waited for the one before
    counts that wait (no coordinated omission); 0: each request right after the last.
    """
    rng = random.Random(f"{seed}:client:{index}")
    samples: list[Sample] = []
    errors: list[str] = []
    copies = iter(range(1_000_000 * (index + 1), 1_000_000 * (index + 2)))
    with httpx.Client(base_url=url, timeout=30) as client:
        copy = next(copies)
        pending = renumbered(rng.choice(documents), copy, copy % 10_000_000)
        while time.time() < start_at:
            time.sleep(0.005)
        begin = time.perf_counter()
        due = begin
        while (now := time.perf_counter()) < begin + seconds:
            if rate:
                due += rng.expovariate(rate)
                if due > now:
                    time.sleep(due - now)
            start = due if rate else time.perf_counter()
            draw = rng.random()
            operation = "$ingest" if draw < 0.2 else "search" if draw < 0.8 else "$translate"
            try:
                if operation == "$ingest":
                    response = client.post(
                        "/fhir/$ingest",
                        content=pending,
                        headers={"content-type": "application/xml"},
                    )
                    ok = response.status_code == 200
                elif operation == "search":
                    response = client.get("/fhir/Observation", params=rng.choice(searches))
                    ok = response.status_code == 200 and b'"searchset"' in response.content
                else:
                    response = client.get(
                        "/fhir/ConceptMap/$translate",
                        params={"system": LOINC, "code": rng.choice(TRANSLATE_CODES)},
                    )
                    ok = response.status_code == 200
                if not ok:
                    errors.append(f"{operation}: {response.status_code} {response.text[:200]}")
            except httpx.HTTPError as exc:
                ok = False
                errors.append(f"{operation}: {type(exc).__name__}: {exc}")
            samples.append((operation, (time.perf_counter() - start) * 1000, ok))
            if operation == "$ingest":  # the next document, made outside the timing
                copy = next(copies)
                pending = renumbered(rng.choice(documents), copy, copy % 10_000_000)
                if rate:
                    due = max(due, time.perf_counter() - 1 / rate)  # its making is not load
    return samples, errors


def warm_up(url: str, searches: list[list[tuple[str, str]]], documents: list[bytes]) -> None:
    """A few requests of each kind before the clock starts: what a server does once
    (imports, unit tables, prepared statements) is not its latency."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for n, source in enumerate(documents[:5]):
            copy = 999_000 + n  # below the clients' numbers
            client.post(
                "/fhir/$ingest",
                content=renumbered(source, copy, copy),
                headers={"content-type": "application/xml"},
            ).raise_for_status()
        for params in searches[:20]:
            client.get("/fhir/Observation", params=params).raise_for_status()
        for code in TRANSLATE_CODES:
            client.get(
                "/fhir/ConceptMap/$translate", params={"system": LOINC, "code": code}
            ).raise_for_status()


@dataclass
class LoadFigures:
    seconds: float
    clients: int
    rate: float
    samples: list[Sample]
    errors: list[str]

    def of(self, operation: str) -> list[float]:
        return [ms for op, ms, _ in self.samples if op == operation]

    def failed(self, operation: str) -> int:
        return sum(1 for op, _, ok in self.samples if op == operation and not ok)


def mixed_load(
    work: Work, population: Population, plans: list[Any], documents: list[bytes], args: Any
) -> LoadFigures:
    planned = make_searches(population, plans, 500)
    ids = patient_ids(work.store, population, {s.patient for s in planned})
    searches = [s.pairs(ids[s.patient]) for s in planned]
    work.store.close()  # the server process holds the store now
    context = multiprocessing.get_context("spawn")
    with ServerProcess("app", work.url) as server:
        warm_up(server.url, searches, documents)
        log(f"{work.engine}: {args.clients} clients for {args.seconds:g} s against {server.url}")
        with context.Pool(args.clients) as pool:
            start_at = time.time() + 5  # every client ready before the first request
            results = pool.starmap(
                _client,
                [
                    (i, server.url, args.seconds, start_at, args.rate, searches, documents)
                    + (args.seed,)
                    for i in range(args.clients)
                ],
            )
    work.store = open_store(work.url)
    samples = [s for part, _ in results for s in part]
    errors = [e for _, part in results for e in part]
    return LoadFigures(args.seconds, args.clients, args.rate, samples, errors)


# Report ------------------------------------------------------------------------------------


def report(rows: list[tuple[Work, IngestFigures, LoadFigures | None]]) -> None:
    print()
    print(
        "Ingestion: renumbered ANS documents, convert() then storage, ms per document "
        "(one transaction per document: the $ingest path; a round per transaction: crbio load)"
    )
    print(
        f"{'engine':11} {'docs':>5} {'convert':>8} {'ingest':>8} {'ratio':>6} {'grouped':>8} "
        f"{'ratio':>6} {'commit':>7} {'first10%/s':>10} {'last10%/s':>9} {'drift':>6}"
    )
    for work, ingest, _ in rows:
        print(
            f"{work.engine:11} {ingest.documents:5d} {fmean(ingest.convert_ms):8.2f} "
            f"{fmean(ingest.single_ms):8.2f} "
            f"{ingest.ratio(ingest.single_ms, ingest.single_convert_ms):6.2f} "
            f"{fmean(ingest.grouped_ms):8.2f} "
            f"{ingest.ratio(ingest.grouped_ms, ingest.grouped_convert_ms):6.2f} "
            f"{median(ingest.commit_ms):7.2f} {ingest.first_rate:10.1f} "
            f"{ingest.last_rate:9.1f} {ingest.drift:+6.0%}"
        )
    print(
        "  commit: median time of a transaction writing one small Patient (the disk's sync "
        "floor of a transaction); drift: last 10% of the single-transaction series against "
        "its first 10%"
    )
    for work, _, _ in rows:
        stats = work.base_load
        print(
            f"  {work.engine} base population: {stats.documents} documents loaded "
            f"{stats.loaded_at}{' (cached)' if stats.cached else ''}: store.ingest "
            f"{stats.ingest_rate:.1f}/s over the load, {stats.tail_direct_rate:.1f}/s over "
            f"its last documents; convert {stats.convert_rate:.1f}/s per process"
        )
    print()
    print("Storage: bytes on disk per document (base population; renumbered ANS documents)")
    print(
        f"{'engine':11} {'base KB/doc':>11} {'source KB':>9} {'x source':>8} "
        f"{'ANS KB/doc':>10} {'source KB':>9} {'x source':>8}"
    )
    for work, ingest, _ in rows:
        per_doc = work.base_bytes / work.base_documents
        source = work.base_source_bytes / work.base_documents
        ans = ingest.stored_bytes / ingest.documents
        ans_source = ingest.source_bytes / ingest.documents
        print(
            f"{work.engine:11} {per_doc / 1024:11.1f} {source / 1024:9.1f} "
            f"{per_doc / source:8.2f} {ans / 1024:10.1f} {ans_source / 1024:9.1f} "
            f"{ans / ans_source:8.2f}"
        )
    loads = [(work, load) for work, _, load in rows if load is not None]
    if loads:
        print()
        first = loads[0][1]
        pace = (
            f"{first.rate:g} requests/s each at random times, timed from when due"
            if first.rate
            else "each request right after the last"
        )
        print(
            f"Mixed load: {first.clients} client processes, {first.seconds:g} s, one request "
            f"at a time each, {pace} ($ingest 1/5, search 3/5, $translate 1/5), ms"
        )
        print(
            f"{'engine':11} {'operation':11} {'count':>6} {'per s':>6} {'p50':>7} {'p99':>7} "
            f"{'max':>7} {'errors':>6}"
        )
        for work, load in loads:
            for operation in ("$ingest", "search", "$translate"):
                times = load.of(operation)
                if not times:
                    continue
                print(
                    f"{work.engine:11} {operation:11} {len(times):6d} "
                    f"{len(times) / load.seconds:6.1f} {percentile(times, 0.5):7.1f} "
                    f"{percentile(times, 0.99):7.1f} {max(times):7.1f} "
                    f"{load.failed(operation):6d}"
                )
            for error in load.errors[:5]:
                print(f"  {work.engine} error: {error}")
    print()
    for work, ingest, load in rows:
        single = ingest.ratio(ingest.single_ms, ingest.single_convert_ms)
        grouped = ingest.ratio(ingest.grouped_ms, ingest.grouped_convert_ms)
        per_doc = work.base_bytes / work.base_source_bytes
        verdicts = [
            f"ratio {single:.2f} per-document transactions, {grouped:.2f} grouped "
            f"{'meets' if grouped <= RATIO_TARGET else 'MISSES'} ≤ {RATIO_TARGET:g}",
            f"drift {ingest.drift:+.0%} {'meets' if ingest.drift <= DRIFT_TARGET else 'MISSES'} "
            f"≤ {DRIFT_TARGET:.0%}",
            f"storage {per_doc:.2f}x {'meets' if per_doc <= BYTES_TARGET else 'MISSES'} "
            f"≤ {BYTES_TARGET:g}x",
        ]
        if load is not None:
            ingest_p99 = percentile(load.of("$ingest") or [0.0], 0.99)
            search_p99 = percentile(load.of("search") or [0.0], 0.99)
            verdicts += [
                f"errors {len(load.errors)}",
                f"$ingest p99 {ingest_p99:.0f} ms "
                f"{'meets' if ingest_p99 < INGEST_P99_MS else 'MISSES'} < {INGEST_P99_MS:g}",
                f"search p99 {search_p99:.1f} ms "
                f"{'meets' if search_p99 < SEARCH_P99_MS else 'MISSES'} < {SEARCH_P99_MS:g}",
            ]
        print(f"{work.engine}: " + "; ".join(verdicts))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="a small base, a short load")
    parser.add_argument("--patients", type=int, help="base population, default 900 (quick 60)")
    parser.add_argument("--docs-per-patient", type=int, help="default 10 (quick 5)")
    parser.add_argument("--rounds", type=int, help="rounds of the ANS documents, default 42")
    parser.add_argument("--warmup", type=int, help="rounds not timed, default 2")
    parser.add_argument("--clients", type=int, help="client processes, default 8 (quick 4)")
    parser.add_argument("--seconds", type=float, help="mixed load, default 60 (quick 10)")
    parser.add_argument(
        "--rate",
        type=float,
        default=4.0,
        help="requests per second per client, at random times (0: as fast as answered)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--postgres-url", default=os.environ.get("CRBIO_BENCH_PG", PG_URL))
    parser.add_argument("--reload", action="store_true", help="rebuild the cached bases")
    parser.add_argument("--no-load", action="store_true", help="skip the mixed load")
    args = parser.parse_args()
    defaults = {
        "patients": (900, 60),
        "docs_per_patient": (10, 5),
        "rounds": (42, 6),
        "warmup": (2, 2),
        "clients": (8, 4),
        "seconds": (60.0, 10.0),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    population = Population(args.patients, args.docs_per_patient, args.seed)
    plans = population.plans()
    observations = sum(p.observations for p in plans)
    print(f"base population {population.key}: {len(plans)} documents, {observations} Observations")
    source_bytes = sum(len(population.render(plan)) for plan in plans)
    documents = source_documents()
    rows = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        work = (work_sqlite if engine == "sqlite" else work_postgresql)(population, plans, args)
        if work is None:
            continue
        work.base_source_bytes = source_bytes
        try:
            ingest = measure_ingestion(work, documents, args)
            load = None if args.no_load else mixed_load(work, population, plans, documents, args)
            rows.append((work, ingest, load))
        finally:
            work.store.close()
            work.cleanup()
    if rows:
        report(rows)


if __name__ == "__main__":
    main()
