"""`crbio spark-convert` on local[1] and local[2]: documents a second.

    python bench/spark.py [--documents 1000] [--masters local[1],local[2]]

The tree is generated once (bench/population.py through bench/bulk.py: ANS-shaped
CR-BIO 2024.01 documents, ten per patient) under bench/.cache/bulk/. For each master
the console script converts it to NDJSON in a subprocess of its own (a new JVM each
time). Printed for each master: the job's documents/s (from the command's final
report: reading, converting, de-duplicating and writing, without the JVM's start),
the wall time with the start, and the ratio to the floor measured in the same run:
the same documents converted and flattened in this process without Spark, times the
cores the master uses.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bulk import floor_rate, tree  # noqa: E402

CRBIO = Path(sys.executable).parent / "crbio"


def cores(master: str) -> int:
    found = re.fullmatch(r"local\[(\d+)\]", master)
    return int(found.group(1)) if found else os.cpu_count() or 1


def measure(folder: Path, master: str) -> tuple[float, float, str]:
    """(job documents/s, wall seconds, the report's first line)."""
    with tempfile.TemporaryDirectory(prefix="crbio-spark-") as scratch:
        started = time.monotonic()
        process = subprocess.run(
            [str(CRBIO), "spark-convert", str(folder), str(Path(scratch) / "out"),
             "--master", master],
            capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        wall = time.monotonic() - started
    summary = " ".join(process.stderr.split())
    if process.returncode != 0:
        raise SystemExit(f"crbio spark-convert failed ({process.returncode}):\n{process.stderr}")
    rate = re.search(r"\(([\d.]+) documents/s\)", summary)
    first = re.search(r"\d+ document\(s\) converted.*?documents/s\)", summary)
    return (float(rate.group(1)) if rate else 0.0), wall, first.group(0) if first else summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--masters", default="local[1],local[2]")
    args = parser.parse_args()
    folder = tree(args.documents)
    floor = floor_rate(folder)
    print(f"floor: {floor:.1f} documents/s (convert + flatten, one process, no Spark)")
    for master in args.masters.split(","):
        rate, wall, line = measure(folder, master)
        print(
            f"{master:>9}: {rate:6.1f} documents/s in the job, {wall:5.1f} s wall with the "
            f"JVM's start; ratio {rate / (floor * cores(master)):.2f} to the floor × "
            f"{cores(master)} core(s)\n           {line}"
        )


if __name__ == "__main__":
    main()
