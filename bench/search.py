"""Search latency over HTTP on a synthetic population, as a ratio to a bare FastAPI floor.

    python bench/search.py [--patients 2000] [--docs-per-patient 10] [--queries 2000]
                           [--engines sqlite,postgresql] [--quick] [--keep] [--reload]

The population (bench/population.py: CR-BIO documents generated from a seed) is
loaded through the real ingestion path, `store.ingest(convert(xml))`, conversions in
a process pool and ingestion in order in this process; the last documents go through
POST /fhir/$ingest over HTTP. SQLite populations are cached under bench/.cache/ (keyed
by the population's parameters); the PostgreSQL one lives in schema `crbio_bench`,
dropped at the end unless --keep (a kept schema with the same population is reused).

Then, for random patients, codes and date thresholds, it times
`GET /fhir/Observation?patient=…&code=…&date=ge…&_sort=-date` on the application
under uvicorn (one keep-alive httpx client), and, in the same run, interleaved in
blocks, a bare FastAPI endpoint on the same uvicorn answering the same requests with
the pre-serialised bytes of a real search answer of the typical size (the floor).
Every timed answer is checked: a searchset with the expected Observations (known
from the generator), sorted by date descending. store.search and store.search +
Bundle serialisation are also timed without HTTP, to show where the time goes.
Targets: search p50 < 5 ms, search p50 / floor p50 ≤ 2.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import orjson  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import APIRouter, FastAPI, Request  # noqa: E402
from population import INS_NIR, LOINC, DocumentPlan, Population  # noqa: E402
from starlette.responses import Response  # noqa: E402

from bridge.api import create_app  # noqa: E402
from bridge.api.bundles import search_bundle  # noqa: E402
from bridge.mapping import Conversion, convert  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from bridge.store import Store, open_store, parse_query  # noqa: E402
from bridge.store.schema import MIGRATIONS  # noqa: E402
from tests.serving import Serving, free_port  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_COUNT = 20  # the store's page size when _count is not given
P50_TARGET_MS = 5.0
RATIO_TARGET = 2.0


class BenchmarkError(RuntimeError):
    """An answer that is not what the population says it must be."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Loading ------------------------------------------------------------------------------

_worker_population: Population | None = None


def _worker_init(patients: int, docs: int, seed: int) -> None:
    global _worker_population
    _worker_population = Population(patients, docs, seed)


Converted = tuple[Conversion, list[dict[str, str]], float]


def _convert_chunk(keys: list[tuple[int, int]]) -> list[Converted]:
    """Render and convert documents in a worker: (conversion, its issues, seconds converting).

    Issues hold lxml nodes, which do not cross processes: they come back as dicts.
    """
    assert _worker_population is not None
    out = []
    for patient, number in keys:
        xml = _worker_population.render(_worker_population.document(patient, number))
        start = time.perf_counter()
        conversion = convert(xml)
        seconds = time.perf_counter() - start
        issues = [issue.as_dict() for issue in conversion.issues]
        out.append((replace(conversion, issues=()), issues, seconds))
    return out


@dataclass
class LoadStats:
    documents: int = 0
    observations: int = 0
    seconds: float = 0.0  # wall time of the whole load
    ingest_seconds: float = 0.0  # inside store.ingest, direct documents only
    convert_seconds: float = 0.0  # inside convert(), summed over the workers
    workers: int = 0
    tail_direct_rate: float = 0.0  # store.ingest docs/s over the last direct documents
    http_documents: int = 0
    http_seconds: float = 0.0  # POST /fhir/$ingest (conversion + storage), sequential client
    issues: int = 0
    loaded_at: str = ""
    cached: bool = False

    @property
    def direct(self) -> int:
        return self.documents - self.http_documents

    @property
    def wall_rate(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    @property
    def ingest_rate(self) -> float:
        return self.direct / self.ingest_seconds if self.ingest_seconds else 0.0

    @property
    def convert_rate(self) -> float:
        return self.direct / self.convert_seconds if self.convert_seconds else 0.0

    @property
    def http_rate(self) -> float:
        return self.http_documents / self.http_seconds if self.http_seconds else 0.0


def _chunks(plans: list[DocumentPlan], size: int) -> Iterator[list[DocumentPlan]]:
    for start in range(0, len(plans), size):
        yield plans[start : start + size]


def load(
    store: Store,
    population: Population,
    plans: list[DocumentPlan],
    *,
    workers: int,
    http_documents: int,
) -> LoadStats:
    """Ingest every document through the real path; the last `http_documents` over HTTP."""
    stats = LoadStats(workers=workers, loaded_at=datetime.now(UTC).isoformat(timespec="seconds"))
    direct, tail = plans[: len(plans) - http_documents], plans[len(plans) - http_documents :]
    timings: list[float] = []
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork of database connections/threads
    window = max(4, 3 * workers)
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(population.patients, population.docs_per_patient, population.seed),
    ) as pool:
        pending: list[tuple[list[DocumentPlan], Future[list[Converted]]]] = []
        chunks = _chunks(direct, 16)
        done, last_report = 0, started
        while True:
            while len(pending) < window and (chunk := next(chunks, None)) is not None:
                pending.append(
                    (chunk, pool.submit(_convert_chunk, [(p.patient, p.number) for p in chunk]))
                )
            if not pending:
                break
            chunk, future = pending.pop(0)
            for plan, (conversion, issues, converting) in zip(chunk, future.result(), strict=True):
                _check_conversion(conversion, issues, plan, population)
                stats.issues += len(issues)
                stats.convert_seconds += converting
                start = time.perf_counter()
                store.ingest(conversion)
                timings.append(time.perf_counter() - start)
                stats.observations += plan.observations
                done += 1
            now = time.perf_counter()
            if now - last_report > 15:
                last_report = now
                rate = done / (now - started)
                log(
                    f"  loaded {done}/{len(plans)} documents ({rate:.0f}/s, "
                    f"store.ingest {len(timings) / sum(timings):.0f}/s), about "
                    f"{(len(plans) - done) / rate:.0f} s to go"
                )
    stats.ingest_seconds = sum(timings)
    last = timings[-max(1, len(tail) or 200) :]
    stats.tail_direct_rate = len(last) / sum(last) if last else 0.0
    if tail:
        settings = Settings(database_url="sqlite://:memory:", offline=True)
        with (
            Serving(create_app(settings, store=store)) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            documents = [population.render(plan) for plan in tail]
            start = time.perf_counter()
            for plan, xml in zip(tail, documents, strict=True):
                response = client.post(
                    "/fhir/$ingest", content=xml, headers={"content-type": "application/xml"}
                )
                require(
                    response.status_code == 200
                    and response.headers.get("x-crbio-changed") == "true",
                    f"POST $ingest of {population.document_id(plan)}: "
                    f"{response.status_code} {response.text[:300]}",
                )
                stats.issues += int(response.headers.get("x-crbio-issues", "0"))
                stats.observations += plan.observations
            stats.http_seconds = time.perf_counter() - start
            stats.http_documents = len(tail)
    stats.documents = len(plans)
    stats.seconds = time.perf_counter() - started
    return stats


def _check_conversion(
    conversion: Conversion, issues: list[dict[str, str]], plan: DocumentPlan, population: Population
) -> None:
    require(
        conversion.counts["Observation"] == plan.observations,
        f"{population.document_id(plan)}: {conversion.counts['Observation']} Observations, "
        f"expected {plan.observations}",
    )
    errors = [i for i in issues if i["severity"] in ("error", "fatal")]
    require(not errors, f"{population.document_id(plan)}: {errors}")


def count_observations(store: Store) -> int:
    page = store.search(parse_query("Observation", [("_summary", "count")]))
    return int(page.total or 0)


# Engines ------------------------------------------------------------------------------


def cache_key(population: Population) -> str:
    """The population and the store's schema version: a new schema means a new load."""
    return f"{population.key}-schema{max(version for version, _, _ in MIGRATIONS)}"


@dataclass
class Prepared:
    engine: str
    url: str
    store: Store
    stats: LoadStats
    cleanup: Callable[[], None] = lambda: None


def prepare_sqlite(population: Population, plans: list[DocumentPlan], args: Any) -> Prepared:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"search-{cache_key(population)}.sqlite3"
    manifest = path.with_suffix(".json")
    if path.exists() and manifest.exists() and not args.reload:
        stats = LoadStats(**json.loads(manifest.read_text())["stats"])
        stats.cached = True
        log(f"sqlite: reusing {path.relative_to(ROOT)} (loaded {stats.loaded_at})")
        return Prepared("sqlite", f"sqlite:///{path}", open_store(f"sqlite:///{path}"), stats)
    partial = path.with_name(path.name + ".partial")
    for stale in (path, manifest, partial, *partial.parent.glob(partial.name + "-*")):
        stale.unlink(missing_ok=True)
    log(f"sqlite: loading {len(plans)} documents into {partial.relative_to(ROOT)}")
    store = open_store(f"sqlite:///{partial}")
    stats = load(store, population, plans, workers=args.workers, http_documents=args.http_ingest)
    store.close()
    # Everything into the main file before the rename: a WAL left beside `.partial`
    # (another reader held it open) would not follow the file to its new name
    with sqlite3.connect(partial) as connection:
        busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    require(busy == 0, f"{partial}: its write-ahead log is held open elsewhere")
    partial.rename(path)
    manifest.write_text(
        json.dumps({"population": cache_key(population), "stats": asdict(stats)}, indent=2)
    )
    return Prepared("sqlite", f"sqlite:///{path}", open_store(f"sqlite:///{path}"), stats)


def prepare_postgresql(
    population: Population, plans: list[DocumentPlan], args: Any
) -> Prepared | None:
    import psycopg

    schema = args.schema
    try:
        admin = psycopg.connect(args.postgres_url, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        print(f"postgresql: unreachable at {args.postgres_url} ({str(exc).strip()[:200]}); skipped")
        return None
    separator = "&" if "?" in args.postgres_url else "?"
    url = f"{args.postgres_url}{separator}options=-csearch_path%3D{schema}"
    stats = None
    exists = admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if exists and not args.reload:
        try:
            row = admin.execute(
                f'SELECT manifest FROM "{schema}".crbio_bench_meta WHERE key = %s',
                (cache_key(population),),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        if row:
            stats = LoadStats(**json.loads(row[0]))
            stats.cached = True
            log(f"postgresql: reusing schema {schema} (loaded {stats.loaded_at})")
    if stats is None:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.execute(f'CREATE SCHEMA "{schema}"')
        log(f"postgresql: loading {len(plans)} documents into schema {schema}")
        store = open_store(url)
        stats = load(
            store, population, plans, workers=args.workers, http_documents=args.http_ingest
        )
        store.close()
        # What autovacuum would do by itself on a server that runs for a while: statistics
        # for the planner and the visibility map for index-only scans.
        start = time.perf_counter()
        admin.execute(f'SET search_path TO "{schema}"')
        admin.execute("VACUUM ANALYZE")
        admin.execute("RESET search_path")
        log(f"postgresql: VACUUM ANALYZE in {time.perf_counter() - start:.0f} s")
        admin.execute(
            f'CREATE TABLE "{schema}".crbio_bench_meta (key TEXT PRIMARY KEY, '
            "manifest TEXT NOT NULL)"
        )
        admin.execute(
            f'INSERT INTO "{schema}".crbio_bench_meta VALUES (%s, %s)',
            (cache_key(population), json.dumps(asdict(stats))),
        )

    def cleanup() -> None:
        if args.keep:
            log(f"postgresql: schema {schema} kept (--keep)")
        else:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()

    return Prepared("postgresql", url, open_store(url), stats, cleanup)


# Queries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Search:
    patient: int
    code: str
    threshold: date
    expected: tuple[datetime, ...]  # the effective times the answer must give, in order

    def pairs(self, patient_id: str) -> list[tuple[str, str]]:
        return [
            ("patient", patient_id),
            ("code", f"{LOINC}|{self.code}"),
            ("date", f"ge{self.threshold.isoformat()}"),
            ("_sort", "-date"),
        ]


def make_searches(population: Population, plans: list[DocumentPlan], count: int) -> list[Search]:
    """Random (patient, code present for that patient, date threshold) searches."""
    rng = random.Random(f"{population.seed}:queries")
    expected = population.expected(plans)
    by_patient: dict[int, list[str]] = {}
    for patient, code in expected:
        by_patient.setdefault(patient, []).append(code)
    for codes in by_patient.values():
        codes.sort()
    first, last = date(2019, 1, 1), date(2025, 7, 1)
    searches = []
    for _ in range(count):
        patient = rng.randrange(population.patients)
        code = rng.choice(by_patient[patient])
        threshold = first + timedelta(days=rng.randrange((last - first).days))
        since = datetime(threshold.year, threshold.month, threshold.day, tzinfo=UTC)
        dates = tuple(d for d in expected[(patient, code)] if d >= since)[:DEFAULT_COUNT]
        searches.append(Search(patient, code, threshold, dates))
    return searches


def patient_ids(store: Store, population: Population, patients: set[int]) -> dict[int, str]:
    """Each patient's id in the store, found by its INS (Patient?identifier=…)."""
    ids = {}
    for index in sorted(patients):
        nir = population.patient(index).nir
        page = store.search(parse_query("Patient", [("identifier", f"urn:oid:{INS_NIR}|{nir}")]))
        require(len(page.matches) == 1, f"patient {index} (NIR {nir}): {len(page.matches)} found")
        ids[index] = page.matches[0].id
    return ids


def check_answer(resources: list[dict[str, Any]], search: Search, patient_id: str) -> None:
    """The Observations of this patient with this code since the threshold, newest first."""
    got = [datetime.fromisoformat(r["effectiveDateTime"]) for r in resources]
    what = f"patient {search.patient} code {search.code} date ge{search.threshold}"
    require(
        all(a >= b for a, b in zip(got, got[1:], strict=False)),
        f"{what}: not sorted by date descending: {got}",
    )
    require(
        len(got) == len(search.expected),
        f"{what}: {len(got)} entries, expected {len(search.expected)}",
    )
    require(got == list(search.expected), f"{what}: dates {got}, expected {search.expected}")
    for resource in resources:
        require(
            resource["resourceType"] == "Observation"
            and resource["subject"]["reference"] == f"Patient/{patient_id}"
            and any(
                c.get("system") == LOINC and c.get("code") == search.code
                for c in resource["code"]["coding"]
            ),
            f"{what}: unexpected {resource['resourceType']}/{resource.get('id')}",
        )


def check_bundle(body: bytes, search: Search, patient_id: str) -> int:
    bundle = orjson.loads(body)
    require(
        bundle.get("resourceType") == "Bundle" and bundle.get("type") == "searchset",
        f"not a searchset: {body[:200]!r}",
    )
    entries = bundle.get("entry", [])
    require(
        all(e.get("search", {}).get("mode") == "match" for e in entries), "an entry is not a match"
    )
    check_answer([e["resource"] for e in entries], search, patient_id)
    return len(entries)


# HTTP ---------------------------------------------------------------------------------


class ServerProcess:
    """`python bench/search.py --serve KIND TARGET` on a free port: the server in its own
    process (its own interpreter and GIL), as a deployed server runs apart from its clients.

    KIND "app" serves create_app() on the store at the URL TARGET; "floor" serves
    floor_app() with the bytes of the file TARGET.
    """

    def __init__(self, kind: str, target: str, *, log_requests: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            kind,
            target,
            "--port",
            str(self.port),
        ] + (["--log-requests"] if log_requests else [])
        self.ready_path = "/healthz" if kind == "app" else "/fhir/metadata"
        self.process: subprocess.Popen[bytes] | None = None
        self.errors = tempfile.TemporaryFile()

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=self.errors)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                self.errors.seek(0)
                raise RuntimeError(
                    f"{' '.join(self.command)} did not start: "
                    f"{self.errors.read()[-2000:].decode(errors='replace')}"
                )
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.errors.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def serve(kind: str, target: str, port: int, log_requests: bool) -> None:
    """The body of a server process (see ServerProcess)."""
    if log_requests:
        _log_requests()
    if kind == "app":
        settings = Settings(database_url=target, offline=True)
        app = create_app(settings, store=open_store(target))
    else:
        app = floor_app(Path(target).read_bytes())
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", log_config=None, access_log=False
    )


def floor_app(body: bytes) -> FastAPI:
    """The floor: FastAPI answering the same URL with ready bytes, nothing else.

    `/fhir/{resource_type}` is a sync endpoint like the real search (run in the
    threadpool); `/async/fhir/{resource_type}` is the same as a coroutine.
    """
    app = FastAPI()
    router = APIRouter(prefix="/fhir")

    @router.get("/{resource_type}")
    def search(resource_type: str, request: Request) -> Response:
        return Response(body, media_type="application/fhir+json")

    app.include_router(router)

    @app.get("/async/fhir/{resource_type}")
    async def search_async(resource_type: str, request: Request) -> Response:
        return Response(body, media_type="application/fhir+json")

    return app


def timed_get(
    client: httpx.Client, path: str, params: list[tuple[str, str]]
) -> tuple[float, bytes, int]:
    start = time.perf_counter()
    response = client.get(path, params=params)
    body = response.content
    return time.perf_counter() - start, body, response.status_code


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Figures:
    engine: str
    population: str
    stats: LoadStats
    search_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    floor_async_ms: list[float] = field(default_factory=list)
    store_ms: list[float] = field(default_factory=list)
    handler_ms: list[float] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    floor_bytes: int = 0
    floor_entries: int = 0
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute, before and after timing

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) if values else float("nan")


def measure(
    prepared: Prepared, population: Population, searches: list[Search], args: Any, label: str
) -> Figures:
    store = prepared.store
    figures = Figures(prepared.engine, label, prepared.stats)
    ids = patient_ids(store, population, {s.patient for s in searches})
    warmup, timed = searches[: args.warmup], searches[args.warmup :]

    # Without HTTP: store.search, and store.search + the searchset Bundle (the handler's work)
    base = "http://127.0.0.1/fhir"
    for round_ in range(2):  # the first round warms the caches (SQLite pages, prepared plans)
        store_ms, handler_ms = [], []
        for search in searches:
            start = time.perf_counter()
            query = parse_query("Observation", search.pairs(ids[search.patient]))
            page = store.search(query)
            searched = time.perf_counter()
            body = search_bundle(base, "Observation", page, query.understood)
            done = time.perf_counter()
            store_ms.append((searched - start) * 1000)
            handler_ms.append((done - start) * 1000)
            if round_ == 0:
                check_bundle(body, search, ids[search.patient])
        figures.store_ms, figures.handler_ms = store_ms[args.warmup :], handler_ms[args.warmup :]

    with (
        ServerProcess("app", prepared.url, log_requests=args.log_requests) as app_server,
        httpx.Client(base_url=app_server.url, timeout=30) as client,
        tempfile.NamedTemporaryFile(prefix="crbio-floor-", suffix=".json") as floor_file,
    ):
        log(f"{prepared.engine}: application server pid {app_server.pid} at {app_server.url}")
        answers: list[tuple[int, bytes]] = []
        for search in warmup:
            _, body, status = timed_get(
                client, "/fhir/Observation", search.pairs(ids[search.patient])
            )
            require(status == 200, f"HTTP {status}: {body[:300]!r}")
            answers.append((check_bundle(body, search, ids[search.patient]), body))
        # the typical answer: as many entries as the median search of the timed set
        typical = int(median(len(s.expected) for s in timed))
        body = min((b for n, b in answers if n == typical), key=len, default=None)
        if body is None:  # no warm-up answer of that size: the closest one
            body = min(answers, key=lambda a: abs(a[0] - typical))[1]
        figures.floor_bytes = len(body)
        figures.floor_entries = len(orjson.loads(body).get("entry", []))
        floor_file.write(body)
        floor_file.flush()
        with (
            ServerProcess("floor", floor_file.name, log_requests=args.log_requests) as floor,
            httpx.Client(base_url=floor.url, timeout=30) as floor_client,
        ):
            for search in warmup:
                timed_get(floor_client, "/fhir/Observation", search.pairs(ids[search.patient]))
                timed_get(
                    floor_client, "/async/fhir/Observation", search.pairs(ids[search.patient])
                )
            if args.pause:
                log(
                    f"paused {args.pause} s before timing (attach a profiler to pid "
                    f"{app_server.pid})"
                )
                time.sleep(args.pause)
            load_before = os.getloadavg()[0]
            block = 50
            for start in range(0, len(timed), block):  # interleaved: drift hits both alike
                part = timed[start : start + block]
                bodies = []
                for search in part:
                    seconds, body, status = timed_get(
                        client, "/fhir/Observation", search.pairs(ids[search.patient])
                    )
                    figures.search_ms.append(seconds * 1000)
                    bodies.append((search, body, status))
                for search in part:
                    seconds, _, _ = timed_get(
                        floor_client, "/fhir/Observation", search.pairs(ids[search.patient])
                    )
                    figures.floor_ms.append(seconds * 1000)
                for search in part:
                    seconds, _, _ = timed_get(
                        floor_client, "/async/fhir/Observation", search.pairs(ids[search.patient])
                    )
                    figures.floor_async_ms.append(seconds * 1000)
                for search, body, status in bodies:  # what was timed was right
                    require(status == 200, f"HTTP {status}: {body[:300]!r}")
                    figures.entries.append(check_bundle(body, search, ids[search.patient]))
            figures.load_average = (load_before, os.getloadavg()[0])
    return figures


def _log_requests() -> None:
    """JSON access logs at INFO as `crbio serve` configures them (to /dev/null)."""
    import logging

    from bridge.api.observability import JsonFormatter

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


# Report -------------------------------------------------------------------------------


def report(all_figures: list[Figures], searches: int) -> None:
    print()
    print(
        "Load (real ingestion path: convert in a process pool, store.ingest in order; "
        "the last documents by POST /fhir/$ingest)"
    )
    print(
        f"{'engine':11} {'documents':>9} {'Observations':>12} {'load':>8} {'wall/s':>7} "
        f"{'ingest/s':>8} {'last/s':>7} {'$ingest/s':>9} {'convert/s/proc':>14}"
    )
    for f in all_figures:
        s = f.stats
        cached = "  (cached)" if s.cached else ""
        print(
            f"{f.engine:11} {s.documents:9d} {s.observations:12d} {s.seconds:7.0f}s "
            f"{s.wall_rate:7.1f} {s.ingest_rate:8.1f} {s.tail_direct_rate:7.1f} "
            f"{s.http_rate:9.1f} {s.convert_rate:14.1f}{cached}"
        )
    print(
        "  wall/s: documents/s over the whole load; ingest/s: inside store.ingest (direct);"
        " last/s: store.ingest over the last direct documents; $ingest/s: POST /fhir/$ingest,"
        " conversion included, one client"
    )
    print()
    print(
        f"Search: Observation?patient=…&code=…&date=ge…&_sort=-date, {searches} timed requests (ms)"
    )
    print(
        f"{'engine':11} {'population':>22} {'p50':>6} {'p99':>6} {'floor p50':>9} "
        f"{'floor p99':>9} {'ratio':>6} {'store p50':>9} {'+bundle':>8} {'async floor':>11} "
        f"{'entries':>7}"
    )
    for f in all_figures:
        p50, floor50 = f.p(f.search_ms, 0.5), f.p(f.floor_ms, 0.5)
        print(
            f"{f.engine:11} {f.population:>22} {p50:6.2f} {f.p(f.search_ms, 0.99):6.2f} "
            f"{floor50:9.2f} {f.p(f.floor_ms, 0.99):9.2f} {p50 / floor50:6.2f} "
            f"{f.p(f.store_ms, 0.5):9.3f} {f.p(f.handler_ms, 0.5):8.3f} "
            f"{f.p(f.floor_async_ms, 0.5):11.2f} {median(f.entries):7.0f}"
        )
    print(
        "  floor: bare FastAPI sync endpoint on the same uvicorn and client, answering the "
        "bytes of a real answer of the median size; ratio = p50 / floor p50;"
    )
    print(
        "  store p50: parse_query + store.search; +bundle: and the searchset serialised "
        "(no HTTP); async floor: the floor as an async endpoint; entries: median per answer"
    )
    for f in all_figures:
        p50, ratio = f.p(f.search_ms, 0.5), f.p(f.search_ms, 0.5) / f.p(f.floor_ms, 0.5)
        print(
            f"{f.engine}: search p50 {p50:.2f} ms "
            f"{'meets' if p50 < P50_TARGET_MS else 'MISSES'} < {P50_TARGET_MS:g} ms; "
            f"ratio {ratio:.2f} {'meets' if ratio <= RATIO_TARGET else 'MISSES'} "
            f"≤ {RATIO_TARGET:g}; floor answer {f.floor_entries} entries, "
            f"{f.floor_bytes / 1024:.1f} KiB; load average {f.load_average[0]:.1f} → "
            f"{f.load_average[1]:.1f} on {os.cpu_count()} CPUs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, help="default 2000 (--quick: 100)")
    parser.add_argument("--docs-per-patient", type=int, help="default 10 (--quick: 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--queries", type=int, help="timed requests per engine, default 2000 (--quick: 300)"
    )
    parser.add_argument("--warmup", type=int, help="untimed requests, default 200 (--quick: 50)")
    parser.add_argument(
        "--quick", action="store_true", help="a small population and fewer queries: a smoke run"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        help="conversion processes while loading",
    )
    parser.add_argument(
        "--http-ingest",
        type=int,
        help="documents loaded last through POST /fhir/$ingest, default 200 (--quick: 20)",
    )
    parser.add_argument("--postgres-url", default=os.environ.get("CRBIO_BENCH_PG", PG_URL))
    parser.add_argument("--schema", default="crbio_bench")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--reload", action="store_true", help="ignore cached populations")
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="JSON access logs at INFO as `crbio serve` (to /dev/null)",
    )
    parser.add_argument("--pause", type=float, default=0, help="seconds to wait before timing")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.port, args.log_requests)
        return
    defaults = {
        "patients": (2000, 100),
        "docs_per_patient": (10, 5),
        "queries": (2000, 300),
        "warmup": (200, 50),
        "http_ingest": (200, 20),
    }
    for name, (full, quick) in defaults.items():  # --quick changes what is not given
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"sqlite", "postgresql"}
    if unknown:
        sys.exit(f"unknown engine(s): {', '.join(sorted(unknown))}")

    population = Population(args.patients, args.docs_per_patient, args.seed)
    plans = population.plans()
    args.http_ingest = min(args.http_ingest, len(plans) // 2)
    observations = sum(p.observations for p in plans)
    label = f"{args.patients}p/{len(plans)}d/{observations // 1000}k obs"
    print(
        f"population {population.key}: {args.patients} patients, {len(plans)} documents, "
        f"{observations} Observations"
    )
    searches = make_searches(population, plans, args.warmup + args.queries)

    all_figures = []
    for engine in engines:
        prepare = prepare_sqlite if engine == "sqlite" else prepare_postgresql
        prepared = prepare(population, plans, args)
        if prepared is None:
            continue
        try:
            stored = count_observations(prepared.store)
            require(
                stored == observations,
                f"{engine}: {stored} Observations stored, expected {observations}",
            )
            log(f"{engine}: {stored} Observations; measuring")
            all_figures.append(measure(prepared, population, searches, args, label))
        finally:
            prepared.store.close()
            prepared.cleanup()
    if all_figures:
        report(all_figures, args.queries)


if __name__ == "__main__":
    main()
