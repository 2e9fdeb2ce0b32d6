"""Converting many files: discovery, a process pool, and a bounded window in flight.

Discovery walks the folders in a fixed order (names sorted in each folder) without
listing the whole tree in memory. At most `2 × jobs` documents are read or converted
at any time, and results come back in the order the files were found, so memory
stays bounded on any archive and the output does not depend on `--jobs`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from bridge.errors import DocumentError, DocumentTooLargeError, rejection
from bridge.export import StagedDocument, flatten_conversion
from bridge.mapping import convert, dumps
from bridge.settings import Settings
from bridge.terminology.service import from_settings

__all__ = [
    "WORK_DIRECTORY",
    "DocumentResult",
    "available_cpus",
    "convert_bytes",
    "convert_file",
    "discover",
    "run",
]

WORK_DIRECTORY = ".crbio-convert"  # a run's manifest and staged lines, never an input
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """What one file gave: the serialised output, or why it was rejected."""

    path: str
    bundle: bytes | None = None  # the transaction Bundle (format "bundle")
    staged: StagedDocument | None = None  # its resources, flattened (format "ndjson")
    counts: Counter[str] = field(default_factory=Counter)
    issues: tuple[dict[str, str], ...] = ()
    error: str | None = None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def discover(
    paths: Iterable[Path], on_error: Callable[[OSError], None] | None = None
) -> Iterator[tuple[Path, str]]:
    """(file, output name): the files named, and the `*.xml` below the folders named.

    The output name is the file's stem, or its path below the folder without the
    suffix, so that two `report.xml` in different folders of one tree never collide.
    Folders are walked in sorted order, one at a time; the work directory of a run
    (`.crbio-convert`) is skipped; a folder that cannot be listed goes to `on_error`.
    """
    for path in paths:
        if not path.is_dir():
            yield path, path.stem
            continue
        for folder, subfolders, files in os.walk(path, onerror=on_error):
            subfolders[:] = sorted(d for d in subfolders if d != WORK_DIRECTORY)
            for name in sorted(files):
                found = Path(folder, name)
                if name.lower().endswith(".xml") and found.is_file():
                    yield found, found.relative_to(path).with_suffix("").as_posix()


@cache
def _terminology(database_url: str) -> dict[str, Any]:
    """The imported JDV and the synced displays, once per (worker) process and database."""
    from bridge.store import open_store

    settings = replace(Settings(), database_url=database_url, offline=True)
    service = from_settings(settings, open_store(database_url))
    return service.conversion_options()


def convert_bytes(
    path: str,
    data: bytes,
    ndjson: bool,
    pretty: bool,
    max_bytes: int,
    database_url: str | None = None,
) -> DocumentResult:
    """Convert one document's bytes; a refused document is a result, not an exception.

    With `database_url`, the terminology of that database (imported JDV, synced displays)
    is used instead of the seed rows.
    """
    try:
        options = _terminology(database_url) if database_url is not None else {}
        conversion = convert(data, max_bytes=max_bytes, **options)
        issues = tuple(issue.as_dict() for issue in conversion.issues)
        if ndjson:
            staged = StagedDocument.of(flatten_conversion(conversion, data))
            return DocumentResult(path, staged=staged, counts=conversion.counts, issues=issues)
        bundle = dumps(conversion.bundle, indent=pretty)
    except Exception as exc:  # a refused document, or a bug: never the batch's end
        return DocumentResult(path, error=rejection(exc))
    return DocumentResult(path, bundle=bundle, counts=conversion.counts, issues=issues)


def convert_file(
    path: str, ndjson: bool, pretty: bool, max_bytes: int, database_url: str | None = None
) -> DocumentResult:
    """Read and convert one file (in a worker process); a file over the limit is refused
    before a byte of it is read."""
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise DocumentTooLargeError(size, max_bytes)
        data = Path(path).read_bytes()
    except DocumentError as exc:
        return DocumentResult(path, error=rejection(exc))
    except OSError as exc:
        return DocumentResult(path, error=f"unreadable: {exc.strerror or exc}")
    return convert_bytes(path, data, ndjson, pretty, max_bytes, database_url)


def _ignore_interrupts() -> None:
    """Ctrl-C is the main process's to handle (it keeps the manifest for --resume); the
    workers finish the document at hand and are shut down with the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()


def exit_with_parent(interval: float = 1.0) -> None:
    """In a pool worker: leave when the main process is gone. Killed with SIGKILL, it
    cannot shut its pool down, and the workers, blocked on a pipe nobody reads, would
    stay for ever (each a converter's memory), one set per interrupted run."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run(
    items: Iterable[tuple[T, str]],
    *,
    ndjson: bool,
    pretty: bool,
    max_bytes: int,
    jobs: int,
    database_url: str | None = None,
) -> Iterator[tuple[T, DocumentResult]]:
    """Convert the files (each with a caller's tag) in order, on `jobs` processes, with a
    bounded number in flight; yields (tag, result) in the order of `items`."""
    if jobs <= 1:
        for tag, path in items:
            yield tag, convert_file(path, ndjson, pretty, max_bytes, database_url)
        return
    window = 2 * jobs
    with ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts) as pool:
        pending: deque[tuple[T, Future[DocumentResult]]] = deque()
        for tag, path in items:
            future = pool.submit(convert_file, path, ndjson, pretty, max_bytes, database_url)
            pending.append((tag, future))
            if len(pending) >= window:
                tag, future = pending.popleft()
                yield tag, future.result()
        while pending:
            tag, future = pending.popleft()
            yield tag, future.result()
