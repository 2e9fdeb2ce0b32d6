"""Forwarding: what the outbox costs an ingestion, and what the worker adds to a delivery.

    python bench/forward.py [--documents 200] [--engine sqlite|postgresql]

Documents come from bench/population.py (CR-BIO 2024.01 with a PDF copy), converted
once. In one run:

1. ingestion: `store.ingest` on an empty store without forwarding, then on another
   with two destinations configured (two outbox rows per document, written in the
   same transaction), in alternating blocks; the ratio is the outbox's cost, and the
   time spent in the enqueue step itself is timed apart (the ratio is noisy on a busy
   machine, the step's time is not);
2. delivery: a downstream `crbio serve` (its own process and SQLite store) receives
   every row from a worker (claims, Bundles read from the store, outcomes recorded),
   and a second, fresh one receives the same Bundles posted by a bare aiohttp loop
   with the same concurrency (the floor: the downstream's own work and HTTP); the
   ratio is the worker's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from population import Population  # noqa: E402

from bridge.forwarding import Forwarding, Outbox, Worker, parse_config  # noqa: E402
from bridge.forwarding.bundles import transactions  # noqa: E402
from bridge.mapping import Conversion, convert  # noqa: E402
from bridge.store import Store, open_store  # noqa: E402
from tests.forwarding.downstream import Server  # noqa: E402
from tests.stores import postgres_schema  # noqa: E402

BLOCK = 10  # documents per alternating block


def ingest_seconds(stores: dict[str, Store], conversions: list[Conversion]) -> dict[str, float]:
    """Seconds each store took, blocks in turns (who goes first alternates), the first
    block a warm-up left out."""
    spent = dict.fromkeys(stores, 0.0)
    for number, start in enumerate(range(0, len(conversions), BLOCK)):
        names = list(stores) if number % 2 else list(reversed(stores))
        for name in names:
            began = time.perf_counter()
            for conversion in conversions[start : start + BLOCK]:
                stores[name].ingest(conversion)
            if number:
                spent[name] += time.perf_counter() - began
    return spent


async def post_all(base: str, bodies: list[bytes], concurrency: int) -> None:
    queue = list(reversed(bodies))
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with session.post(base, data=body) as answer:
                    await answer.read()
                    assert answer.status == 200, answer.status

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    population = Population(patients=max(1, args.documents // 4), docs_per_patient=4, seed=7)
    plans = population.plans()[: args.documents]
    conversions = [convert(population.render(plan)) for plan in plans]
    print(f"{len(conversions)} documents, {args.engine}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if args.engine == "sqlite":
            urls = [f"sqlite:///{tmp / 'plain.sqlite3'}", f"sqlite:///{tmp / 'outbox.sqlite3'}"]
            run(args, tmp, conversions, urls)
        else:
            with postgres_schema() as plain, postgres_schema() as outbox:
                run(args, tmp, conversions, [plain, outbox])


def run(
    args: argparse.Namespace, tmp: Path, conversions: list[Conversion], urls: list[str]
) -> None:
    with Server(tmp / "worker-down") as down, Server(tmp / "floor-down") as floor:
        config = parse_config(
            {
                "worker": {"poll_interval": 0.05, "concurrency": 4},
                "destinations": {
                    "bench": {"base": down.base},
                    "unused": {"base": "http://127.0.0.1:9/fhir"},  # a second row each
                },
            }
        )
        plain, outboxed = open_store(urls[0]), open_store(urls[1])
        forwarding = Forwarding(outboxed, config)
        in_step = [0.0]

        def enqueue(*args: Any) -> None:  # the step, timed on its own
            began = time.perf_counter()
            forwarding.enqueue(*args)
            in_step[0] += time.perf_counter() - began

        outboxed.after_ingest = enqueue
        spent = ingest_seconds({"plain": plain, "outbox": outboxed}, conversions)
        timed = len(conversions) - BLOCK
        per_doc = {name: 1000 * seconds / timed for name, seconds in spent.items()}
        step_ms = 1000 * in_step[0] / len(conversions)

        outbox = Outbox(outboxed)
        rows = [r for r in outbox.rows(limit=len(conversions) * 2) if r.destination == "bench"]
        began = time.perf_counter()
        bodies = [
            body
            for row in rows
            for body in transactions(outboxed, row, floor.base, later_delivered=False)
        ]
        build_ms = 1000 * (time.perf_counter() - began) / len(rows)
        began = time.perf_counter()
        asyncio.run(post_all(floor.base, bodies, concurrency=4))
        floor_seconds = time.perf_counter() - began

        only_bench = parse_config(
            {
                "worker": {"poll_interval": 0.05, "concurrency": 4},
                "destinations": {"bench": {"base": down.base}},
            }
        )
        worker = Worker(outboxed, only_bench)
        began = time.perf_counter()
        asyncio.run(worker.run(until_idle=True))
        worker_seconds = time.perf_counter() - began
        delivered = [r for r in outbox.rows(limit=len(rows) * 2) if r.destination == "bench"]
        assert all(r.state == "delivered" for r in delivered), "not every row was delivered"
        plain.close()
        outboxed.close()
    mb = sum(len(b) for b in bodies) / len(bodies) / 1e6
    print(f"| measure | {args.engine} |\n|---|---|")
    print(f"| ingest ms/document, no forwarding | {per_doc['plain']:.1f} |")
    print(f"| ingest ms/document, 2 outbox rows | {per_doc['outbox']:.1f} |")
    print(f"| ratio (the outbox's cost) | {per_doc['outbox'] / per_doc['plain']:.2f} |")
    print(f"| of which the enqueue step, ms/document | {step_ms:.2f} |")
    print(f"| Bundle size, MB | {mb:.2f} |")
    print(f"| Bundle read from the store, ms | {build_ms:.1f} |")
    print(f"| floor: bare POSTs, documents/s | {len(bodies) / floor_seconds:.1f} |")
    print(f"| worker, documents/s | {len(rows) / worker_seconds:.1f} |")
    print(f"| ratio (the worker's overhead) | {worker_seconds / floor_seconds:.2f} |")


if __name__ == "__main__":
    main()
