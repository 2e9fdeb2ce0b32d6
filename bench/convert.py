"""Conversion speed, as a ratio to lxml parsing the same bytes in the same run.

    python bench/convert.py [FOLDER] [--rounds N]

FOLDER defaults to the ANS corpus (../shared/corpus/cr-bio, or $CRBIO_CORPUS), else
the project's fhir_examples. Each round times, over every document: lxml parse
only (the floor), convert() (bytes → Bundle dicts), and convert() + JSON
serialisation. The best round of each is kept; ratios divide by the floor.
Target: convert / parse ≤ 3.

Two reference lines say what any lxml-based converter pays before doing anything:
parsing then visiting every element once from Python (its tag and three
attributes), and the byte work a correct Bundle needs (SHA-1 and base64 of the
source for its Binary and DocumentReference, whitespace removed from the PDF copy).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pybase64
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.cda.parsing import V3  # noqa: E402
from bridge.mapping import convert, dumps  # noqa: E402
from bridge.mapping.attachments import without_whitespace  # noqa: E402


def default_folder() -> Path:
    corpus = Path(os.environ.get("CRBIO_CORPUS", ROOT.parent / "shared" / "corpus" / "cr-bio"))
    return corpus if corpus.is_dir() else ROOT / "fhir_examples"


def best_times(works: list[Callable[[], object]], rounds: int) -> list[float]:
    """The best time of each work, the works taking turns within every round.

    Taking turns exposes the floor and the conversion to the same moments of a busy
    machine, so their ratio holds better than either time does.
    """
    best = [float("inf")] * len(works)
    for _ in range(rounds):
        for i, work in enumerate(works):
            gc.collect()
            start = time.perf_counter()
            work()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=default_folder())
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    documents = [p.read_bytes() for p in sorted(args.folder.glob("*.xml"))]
    if not documents:
        sys.exit(f"no *.xml in {args.folder}")
    plain = etree.XMLParser(huge_tree=True)

    def parse_only() -> None:
        for data in documents:
            etree.fromstring(data, plain)

    def parse_and_visit() -> None:
        for data in documents:
            for element in etree.fromstring(data, plain).iter():
                element.tag, element.get("code"), element.get("root"), element.get("value")

    pdf_copies = [
        element.text
        for data in documents
        for element in etree.fromstring(data, plain).iter(f"{{{V3}}}text", f"{{{V3}}}value")
        if element.get("representation") == "B64" and element.text
    ]

    def byte_work() -> None:
        for data in documents:
            hashlib.sha1(data).digest()
            pybase64.b64encode_as_string(data)
        for text in pdf_copies:
            pybase64.b64decode(without_whitespace(text), validate=True)

    def convert_only() -> None:
        for data in documents:
            convert(data)

    def convert_and_serialise() -> None:
        for data in documents:
            dumps(convert(data).bundle)

    convert_only()  # warm the caches (unit grammar, code tables) once, as a server would
    floor, visiting, bytes_only, converting, serialising = best_times(
        [parse_only, parse_and_visit, byte_work, convert_only, convert_and_serialise], args.rounds
    )
    megabytes = sum(map(len, documents)) / 1e6
    print(f"{len(documents)} documents, {megabytes:.1f} MB, from {args.folder}")
    print(f"lxml parse only        {floor * 1000:8.1f} ms  (floor)")
    for label, seconds in (("parse + visit elements", visiting), ("byte work", bytes_only)):
        print(f"{label:<22} {seconds * 1000:8.1f} ms  (reference)     ratio {seconds / floor:.2f}")
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
