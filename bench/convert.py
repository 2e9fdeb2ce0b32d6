"""Conversion speed, as a ratio to lxml parsing the same bytes in the same run.

    python bench/convert.py [FOLDER] [--rounds N]

FOLDER defaults to the ANS corpus (../shared/corpus/cr-bio, or $CRBIO_CORPUS), else
the project's fhir_examples. Each round times, over every document: lxml parse
only (the floor), convert() (bytes → Bundle dicts), and convert() + JSON
serialisation. The best round of each is kept; ratios divide by the floor.
Target: convert / parse ≤ 3.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.mapping import convert, dumps  # noqa: E402


def default_folder() -> Path:
    corpus = Path(os.environ.get("CRBIO_CORPUS", ROOT.parent / "shared" / "corpus" / "cr-bio"))
    return corpus if corpus.is_dir() else ROOT / "fhir_examples"


def best_time(work: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=default_folder())
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    documents = [p.read_bytes() for p in sorted(args.folder.glob("*.xml"))]
    if not documents:
        sys.exit(f"no *.xml in {args.folder}")
    plain = etree.XMLParser(huge_tree=True)

    def parse_only() -> None:
        for data in documents:
            etree.fromstring(data, plain)

    def convert_only() -> None:
        for data in documents:
            convert(data)

    def convert_and_serialise() -> None:
        for data in documents:
            dumps(convert(data).bundle)

    convert_only()  # warm the caches (unit grammar, code tables) once, as a server would
    floor = best_time(parse_only, args.rounds)
    converting = best_time(convert_only, args.rounds)
    serialising = best_time(convert_and_serialise, args.rounds)
    megabytes = sum(map(len, documents)) / 1e6
    print(f"{len(documents)} documents, {megabytes:.1f} MB, from {args.folder}")
    print(f"lxml parse only        {floor * 1000:8.1f} ms  (floor)")
    print(
        f"convert                {converting * 1000:8.1f} ms  "
        f"{len(documents) / converting:8.0f} documents/s  ratio {converting / floor:.2f}"
    )
    print(
        f"convert + JSON         {serialising * 1000:8.1f} ms  "
        f"{len(documents) / serialising:8.0f} documents/s  ratio {serialising / floor:.2f}"
    )


if __name__ == "__main__":
    main()
