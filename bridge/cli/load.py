"""`crbio load`: store an archive of CR-BIO documents, a group of documents per transaction.

Documents are converted in worker processes (`--jobs`) and stored in their order by
this process, `--batch` documents per database transaction: a group is stored whole or
not at all, so a load stopped at any moment (killed, the machine losing power) leaves
each document either fully stored (its resources and their index rows) or absent. Run
again, it stores what is missing; what is already stored is left as it is (ingestion
is idempotent). A group the store refuses is stored again one document per
transaction, so that a bad document is reported alone. `crbio serve --ingest` loads
the same way.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bridge.cli.problems import err, fail, load_settings, note, usage
from bridge.cli.stores import open_for_writing
from bridge.errors import BridgeError, DocumentError
from bridge.mapping import Conversion, convert

__all__ = ["LoadSummary", "load", "load_documents", "report"]

Converted = tuple[str, Conversion | None, str | None]  # path, conversion, why it was refused


@dataclass
class LoadSummary:
    stored: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _convert(path: str, max_bytes: int, database_url: str | None) -> Converted:
    """Read and convert one file (in a worker process); a refusal is a result."""
    from bridge.cli.batch import _terminology  # the worker's JDV and displays, cached

    try:
        options = _terminology(database_url) if database_url else {}
        conversion = convert(Path(path).read_bytes(), max_bytes=max_bytes, **options)
    except DocumentError as exc:
        return path, None, f"{exc.code}: {exc}"
    except OSError as exc:
        return path, None, f"unreadable: {exc.strerror or exc}"
    # Issues hold the lxml nodes they point at, which do not cross processes
    return path, replace(conversion, issues=()), None


def _converted(
    files: Iterable[Path], jobs: int, max_bytes: int, database_url: str | None
) -> Iterator[Converted]:
    """Conversions in the order of `files`, at most 2 × jobs in flight."""
    if jobs <= 1:
        for path in files:
            yield _convert(str(path), max_bytes, database_url)
        return
    from bridge.cli.batch import exit_with_parent

    with ProcessPoolExecutor(max_workers=jobs, initializer=exit_with_parent) as pool:
        pending: deque[Future[Converted]] = deque()
        for path in files:
            pending.append(pool.submit(_convert, str(path), max_bytes, database_url))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def load_documents(
    store: object,
    paths: list[Path],
    *,
    batch: int,
    jobs: int,
    max_bytes: int,
    database_url: str | None = None,
) -> LoadSummary:
    """Convert and store every document under `paths`, `batch` per transaction.

    `database_url`: convert with the terminology of that database (its JDV, its
    displays) instead of the seed rows.
    """
    from bridge.cli.batch import discover

    summary = LoadSummary()
    group: list[tuple[str, Conversion]] = []

    def flush() -> None:
        try:
            results = store.ingest_many([c for _, c in group])  # type: ignore[attr-defined]
        except BridgeError:
            results = []
            for path, conversion in group:  # the group again, one document at a time
                try:
                    results.append(store.ingest(conversion))  # type: ignore[attr-defined]
                except BridgeError as exc:
                    summary.rejected.append((path, f"{exc.code}: {exc}"))
        for _, changed in results:
            summary.stored += 1
            summary.unchanged += not changed
        group.clear()

    def unlisted(exc: OSError) -> None:
        note(f"cannot list {exc.filename}: {exc.strerror}")

    files = (path for path, _ in discover(paths, unlisted))
    for path, conversion, refused in _converted(files, jobs, max_bytes, database_url):
        if conversion is None:
            summary.rejected.append((path, refused or "refused"))
            continue
        group.append((path, conversion))
        if len(group) >= batch:
            flush()
    if group:
        flush()
    return summary


def load(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="CDA files, or directories (*.xml, recursively)."),
    ],
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Documents stored per database transaction.")
    ] = 50,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Conversion worker processes.")
    ] = max(1, min(4, (os.cpu_count() or 2) - 1)),
) -> None:
    """Store CR-BIO documents in the store of BRIDGE_DATABASE_URL, a group per transaction."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise usage(f"no such file or folder: {', '.join(missing)}", param_hint="PATH...")
    from bridge.cli.forward import forwarding_config
    from bridge.forwarding import Forwarding

    settings = load_settings()
    forward = forwarding_config(settings)
    store = open_for_writing(settings)
    if forward.destinations:  # loaded documents are forwarded like ingested ones
        Forwarding(store, forward).install()
    try:
        summary = load_documents(
            store,
            paths,
            batch=batch,
            jobs=jobs,
            max_bytes=settings.max_document_bytes,
            database_url=settings.database_url,
        )
    finally:
        store.close()
    report(summary)
    if summary.rejected:
        raise fail(f"{len(summary.rejected)} document(s) rejected (listed above)")


def report(summary: LoadSummary) -> None:
    for path, reason in summary.rejected:  # one line each, never wrapped: grep-able
        err.print(
            f"[red]rejected[/red] {escape(path)}: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    err.print(
        f"ingested {summary.stored} document(s) ({summary.unchanged} already stored, "
        f"unchanged), {len(summary.rejected)} rejected",
        highlight=False,
    )
