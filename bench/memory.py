"""Resident memory over conversions of documents carrying attacker-sized values.

    python bench/memory.py [--conversions N] [--size BYTES] [--names N]

Each conversion takes the example glucose report with distinct values of `--size`
bytes (1 MB by default) written where the converter's memos take their keys from: the
unit of each result, the document id, a code system, the result's effectiveTime.
Nothing of a document should outlive its conversion: the resident set size (RSS) is
printed every 50 conversions, and its growth after the first 50 (the allocator and the
lazily built grammar settle there) against the bytes converted.

With `--names N`, each document carries N element and attribute names of its own
instead (an extension element in another namespace, which the converter ignores):
libxml2 keeps every name in a dictionary of the parsing thread, which the converter's
recycled parsing threads (bridge.cda.parsing) keep from growing.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.mapping import convert  # noqa: E402

EXAMPLE = ROOT / "fhir_examples" / "glucose-two-units.xml"


def rss_mb() -> float:
    """Current resident set size (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hostile(template: str, i: int, size: int) -> bytes:
    """The example with value `i`, `size` characters long, in every memoised place."""
    big = f"{i}-" + "x" * size
    text = (
        template.replace('unit="mmol/L"', f'unit="{big}"', 1)
        .replace('unit="g/L"', f'unit="{big}g"', 1)
        .replace('<id root="1.2.250.1.213.1.1.9.999.1.1"/>', f'<id root="{big}"/>', 1)
        .replace(
            'code="18719-5" displayName="Biochimie" codeSystem="2.16.840.1.113883.6.1"',
            f'code="18719-5" displayName="Biochimie" codeSystem="{big}"',
            1,
        )
        .replace(
            '<effectiveTime value="20250312101500+0100"/>', f'<effectiveTime value="{big}"/>', 1
        )
    )
    assert text.count(big) == 5, "the example changed: update the replacements"
    return text.encode("utf-8")


def invented(template: str, i: int, count: int) -> bytes:
    """The example with `count` element and attribute names no other document uses."""
    names = "".join(f'<n{i}x{j} a{i}x{j}="1"/>' for j in range(count // 2))
    extra = f'<extra xmlns="urn:example:invented">{names}</extra></ClinicalDocument>'
    return template.replace("</ClinicalDocument>", extra, 1).encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversions", type=int, default=400)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--names", type=int, default=0, help="invented names per document")
    args = parser.parse_args()
    template = EXAMPLE.read_text(encoding="utf-8")
    convert(EXAMPLE.read_bytes())  # imports, tables and grammar built before measuring
    gc.collect()
    if args.names:
        print(f"{args.conversions} conversions, each with {args.names:,} names of its own")
    else:
        print(f"{args.conversions} conversions, each with {args.size:,}-character values")
    print(f"  before            RSS {rss_mb():7.1f} MB")
    settled = None
    for i in range(1, args.conversions + 1):
        convert(
            invented(template, i, args.names) if args.names else hostile(template, i, args.size)
        )
        if i % 50 == 0:
            gc.collect()
            now = rss_mb()
            settled = settled if settled is not None else now
            print(f"  after {i:>4}        RSS {now:7.1f} MB")
    assert settled is not None
    growth = rss_mb() - settled
    what = (
        f"{args.conversions * args.names:,} names"
        if args.names
        else f"{args.conversions * args.size * 5 / 1024 / 1024:,.0f} MB of values"
    )
    print(
        f"growth after the first 50: {growth:+.1f} MB for {what} converted"
        f" ({'flat' if growth < 20 else 'GROWING'})"
    )


if __name__ == "__main__":
    main()
