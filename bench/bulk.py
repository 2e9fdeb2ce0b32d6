"""`crbio convert --format ndjson` over trees of 1,000 and 10,000 documents: memory and rate.

    python bench/bulk.py [--sizes 1000,10000] [--jobs N]

Each tree is generated once (bench/population.py: ANS-shaped CR-BIO 2024.01
documents, ten per patient, distinct ids and patients) under bench/.cache/bulk/, in
folders of 100 documents. The console script then converts it to NDJSON in a
subprocess while /proc is sampled every 50 ms for the resident memory of the main
process and of each worker.

Printed, for each size: documents/s, the peak RSS of the main process, of the largest
worker and of the whole tree, the NDJSON size and lines, and the summary's duplicates.
Ratios:
- memory: each peak over the same peak at the smallest size (flat memory gives ~1.0,
  memory growing with the archive gives ~size ratio);
- rate: documents/s over the floor measured in the same run, the same documents
  converted and flattened in one process without writing anything, times the jobs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from population import Population  # noqa: E402

from bridge.cli.batch import available_cpus  # noqa: E402
from bridge.export import StagedDocument, flatten_conversion  # noqa: E402
from bridge.mapping import convert  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "bulk"
CRBIO = Path(sys.executable).parent / "crbio"
FLOOR_DOCUMENTS = 200


def tree(size: int) -> Path:
    """A folder of `size` generated documents (made once, then reused)."""
    population = Population(patients=max(1, size // 10), docs_per_patient=10, seed=7)
    folder = CACHE / population.key
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    for n, plan in enumerate(population.plans()):
        path = folder / f"{n // 100:04d}" / f"{population.document_id(plan)}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(population.render(plan))
    done.touch()
    print(f"  generated {size} documents in {time.monotonic() - started:.0f} s: {folder}")
    return folder


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as found:
            return [int(p) for p in found.read().split()]
    except OSError:
        return []


def measure(folder: Path, jobs: int) -> dict[str, float]:
    """Convert `folder` to NDJSON with the console script; sample memory while it runs."""
    with tempfile.TemporaryDirectory(prefix="crbio-bulk-") as scratch:
        out = Path(scratch) / "ndjson"
        env = {**os.environ, "COLUMNS": "200"}
        started = time.monotonic()
        process = subprocess.Popen(
            [str(CRBIO), "convert", str(folder), "-o", str(out), "--format", "ndjson",
             "--jobs", str(jobs)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        main = worker = total = 0
        while process.poll() is None:
            workers = [rss_kib(c) for c in children(process.pid)]
            own = rss_kib(process.pid)
            main, worker = max(main, own), max([worker, *workers])
            total = max(total, own + sum(workers))
            time.sleep(0.05)
        seconds = time.monotonic() - started
        stderr = process.stderr.read() if process.stderr else ""
        if process.returncode != 0:
            raise SystemExit(f"crbio convert failed ({process.returncode}):\n{stderr}")
        files = list(out.glob("*.ndjson"))
        lines = sum(sum(1 for _ in f.open("rb")) for f in files)
        size = sum(f.stat().st_size for f in files)
    merged = re.search(r"(\d+) duplicate version", " ".join(stderr.split()))
    return {
        "seconds": seconds,
        "main": main / 1024,
        "worker": worker / 1024,
        "total": total / 1024,
        "lines": lines,
        "megabytes": size / 1e6,
        "duplicates": int(merged.group(1)) if merged else -1,
    }


def floor_rate(folder: Path) -> float:
    """Documents/s of convert() + flatten + serialisation in this process, nothing written."""
    paths = sorted(folder.rglob("*.xml"))[:FLOOR_DOCUMENTS]
    data = [p.read_bytes() for p in paths]
    started = time.perf_counter()
    for source in data:
        StagedDocument.of(flatten_conversion(convert(source), source))
    return len(data) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="tree sizes, comma-separated")
    parser.add_argument("--jobs", type=int, default=available_cpus())
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"crbio convert --format ndjson --jobs {args.jobs} ({os.cpu_count()} CPUs here)")
    results = {}
    floor = 0.0
    for size in sizes:
        folder = tree(size)
        floor = floor or floor_rate(folder)
        results[size] = figures = measure(folder, args.jobs)
        rate = size / figures["seconds"]
        print(
            f"{size:>7} documents: {figures['seconds']:6.1f} s, {rate:6.1f} documents/s "
            f"(ratio {rate / (floor * args.jobs):.2f} to the floor of {floor:.1f}/s × "
            f"{args.jobs} jobs); peak RSS main {figures['main']:.0f} MiB, largest worker "
            f"{figures['worker']:.0f} MiB, all {figures['total']:.0f} MiB; "
            f"{figures['lines']:.0f} lines, {figures['megabytes']:.0f} MB, "
            f"{figures['duplicates']:.0f} duplicates merged"
        )
    first = results[sizes[0]]
    for size in sizes[1:]:
        ratios = {k: results[size][k] / first[k] for k in ("main", "worker", "total")}
        print(
            f"memory at {size} / at {sizes[0]} documents: main {ratios['main']:.2f}, "
            f"worker {ratios['worker']:.2f}, all {ratios['total']:.2f}"
        )


if __name__ == "__main__":
    main()
