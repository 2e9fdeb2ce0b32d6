"""Converting many files: discovery, an optional process pool, and a bounded window in flight.

At most `2 × jobs` documents are read or converted at any time, and each result
is written as soon as its turn comes, so memory stays bounded on any archive.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from bridge.errors import DocumentError
from bridge.mapping import convert, dumps
from bridge.settings import Settings
from bridge.terminology.service import from_settings

__all__ = ["DocumentResult", "convert_file", "discover", "run"]


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """What one file gave: the serialised output, or why it was rejected."""

    path: str
    bundle: bytes | None = None  # the transaction Bundle (format "bundle")
    resources: tuple[tuple[str, bytes], ...] = ()  # (type, JSON line) (format "ndjson")
    counts: Counter[str] = field(default_factory=Counter)
    issues: tuple[dict[str, str], ...] = ()
    error: str | None = None


def discover(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, output name): the files named, and the `*.xml` below the directories named.

    The output name is the file's stem, or its path below the directory without
    the suffix, so that two `report.xml` in different folders never collide.
    """
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*.xml") if p.is_file()):
                yield found, found.relative_to(path).with_suffix("").as_posix()
        else:
            yield path, path.stem


@cache
def _terminology(database_url: str) -> dict[str, Any]:
    """The imported JDV and the synced displays, once per (worker) process and database."""
    from bridge.store import open_store

    settings = replace(Settings(), database_url=database_url, offline=True)
    service = from_settings(settings, open_store(database_url))
    return service.conversion_options()


def convert_file(
    path: str, ndjson: bool, pretty: bool, max_bytes: int, database_url: str | None = None
) -> DocumentResult:
    """Read and convert one file; a refused document is a result, not an exception.

    With `database_url`, the terminology of that database (imported JDV, synced displays)
    is used instead of the seed rows.
    """
    try:
        data = Path(path).read_bytes()
        options = _terminology(database_url) if database_url is not None else {}
        conversion = convert(data, max_bytes=max_bytes, **options)
    except DocumentError as exc:
        return DocumentResult(path, error=f"{exc.code}: {exc}")
    except OSError as exc:
        return DocumentResult(path, error=f"unreadable: {exc.strerror or exc}")
    except Exception as exc:  # a bug must not stop a batch of thousands of documents
        return DocumentResult(path, error=f"internal error (please report): {exc!r}")
    issues = tuple(issue.as_dict() for issue in conversion.issues)
    if ndjson:
        lines = tuple((r["resourceType"], dumps(r)) for r in conversion.resources())
        return DocumentResult(path, resources=lines, counts=conversion.counts, issues=issues)
    return DocumentResult(
        path,
        bundle=dumps(conversion.bundle, indent=pretty),
        counts=conversion.counts,
        issues=issues,
    )


def run(
    files: Iterable[Path],
    *,
    ndjson: bool,
    pretty: bool,
    max_bytes: int,
    jobs: int,
    terminology: bool = False,
) -> Iterator[DocumentResult]:
    """Convert files in order, on `jobs` processes, with a bounded number in flight."""
    database_url = Settings.from_environment().database_url if terminology else None
    if jobs <= 1:
        for path in files:
            yield convert_file(str(path), ndjson, pretty, max_bytes, database_url)
        return
    window = 2 * jobs
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque[Future[DocumentResult]] = deque()
        for path in files:
            pending.append(
                pool.submit(convert_file, str(path), ndjson, pretty, max_bytes, database_url)
            )
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))
