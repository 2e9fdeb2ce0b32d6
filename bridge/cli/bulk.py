"""One run of `crbio convert` over many documents: found, converted, recorded, published.

`BulkRun` walks the inputs (twice: once to count them for the progress bar and its
ETA), converts them on a process pool in the order they were found, records each one
in the run's manifest (bridge/export/manifest.py) with its Bundle file or its staged
NDJSON lines and its issues, then publishes the NDJSON and the issues file. Memory
stays flat: nothing of a document is kept once recorded.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO

import orjson
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bridge.cli.batch import DocumentResult, available_cpus, convert_bytes, discover, run
from bridge.cli.output import BundleOutput, Target, write_to
from bridge.cli.problems import err, note
from bridge.cli.report import RunReport, document_summary
from bridge.export import Manifest, NdjsonWriter, Published, SourceFile

__all__ = ["BulkRun"]

ISSUES = "crbio-issues.ndjson"  # the manifest's stream of issue lines


class BulkRun:
    """One conversion run: finds the documents, converts them, records them, publishes."""

    def __init__(
        self,
        paths: list[Path],
        stdin: bool,
        target: Target,
        ndjson: bool,
        pretty: bool,
        max_bytes: int,
        database_url: str | None,
        manifest: Manifest,
        resume: bool,
    ) -> None:
        self.paths, self.stdin, self.target = paths, stdin, target
        self.ndjson, self.pretty, self.max_bytes = ndjson, pretty, max_bytes
        self.database_url, self.manifest, self.resume = database_url, manifest, resume
        self.writer = NdjsonWriter(manifest) if ndjson else None
        self.bundles = None if ndjson else BundleOutput(target)
        self.report = RunReport()

    def convert(self, jobs: int | None) -> RunReport:
        started = time.monotonic()
        total, to_do = self._count()
        self.report.skipped = total - to_do
        progress = _progress(disable=total <= 1)
        with progress:
            task = progress.add_task("converting", total=to_do)
            results = self._results(jobs, to_do)
            for (source, name), result in results:
                self._record(source, name, result)
                progress.advance(task)
        if self.resume:
            self.manifest.forget_unseen()
        self.manifest.commit()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _results(
        self, jobs: int | None, to_do: int
    ) -> Iterator[tuple[tuple[SourceFile, str], DocumentResult]]:
        if self.stdin:
            data = sys.stdin.buffer.read()
            source = SourceFile("-", len(data), 0, "-")
            options = (self.ndjson, self.pretty, self.max_bytes, self.database_url)
            return iter([((source, "stdin"), convert_bytes("-", data, *options))])
        return run(
            self._pending(),
            ndjson=self.ndjson,
            pretty=self.pretty,
            max_bytes=self.max_bytes,
            jobs=min(jobs or available_cpus(), max(to_do, 1)),
            database_url=self.database_url,
        )

    def _count(self) -> tuple[int, int]:
        """Documents found, and those to convert (all but the ones --resume skips)."""
        if self.stdin:
            return 1, 1
        total = to_do = 0
        for path, _ in discover(self.paths):
            total += 1
            to_do += not (self.resume and _done(self.manifest, path))
        return total, to_do

    def _pending(self) -> Iterator[tuple[tuple[SourceFile, str], str]]:
        for path, name in discover(self.paths, self._unlisted):
            try:
                source = SourceFile.of(path)
            except OSError as exc:
                source = SourceFile(os.path.abspath(path), -1, -1, str(path))
                error = f"unreadable: {exc.strerror or exc}"
                self._record(source, name, DocumentResult(str(path), error=error))
                continue
            if self.resume and self.manifest.done(source):
                continue
            yield (source, name), str(path)

    def _unlisted(self, exc: OSError) -> None:
        self.report.unlisted.append(f"{exc.filename}: {exc.strerror or exc}")

    def _record(self, source: SourceFile, name: str, result: DocumentResult) -> None:
        manifest = self.manifest
        if result.error is not None:
            manifest.record(source, converted=False, reason=result.error)
            manifest.maybe_commit()
            return
        if self.bundles is not None:
            self.bundles.write(result, name)
        summary = document_summary(result.counts, result.issues)
        document = manifest.record(source, converted=True, summary=summary)
        if self.writer is not None:
            assert result.staged is not None
            self.writer.add(document, result.staged)
        if result.issues:
            manifest.append(
                ISSUES,
                b"".join(
                    orjson.dumps({"document": result.path, **issue}) + b"\n"
                    for issue in result.issues
                ),
            )
        self.report.converted_now += 1
        manifest.maybe_commit()

    def publish(self, issues_to: Target | None) -> Published | None:
        """Write the NDJSON and the issues file from what the manifest holds."""
        published = None
        if self.writer is not None:
            with _status("writing NDJSON"):
                if self.target.kind == "directory":
                    assert self.target.path is not None
                    published = self.writer.publish_directory(self.target.path)
                    self._note_other_files(published, issues_to)
                else:
                    published = write_to(self.target, self.writer.publish_stream)
        if issues_to is not None:
            write_to(issues_to, lambda out: _copy_stream(self.manifest, ISSUES, out))
        return published

    def _note_other_files(self, published: Published, issues_to: Target | None) -> None:
        """Say when the directory holds NDJSON this run did not write (an earlier run's
        types): read together, they would mix two archives."""
        assert self.target.path is not None
        ours = {f"{kind}.ndjson" for kind in published.resources}
        if issues_to is not None and issues_to.path is not None:
            ours.add(issues_to.path.name)
        others = sorted(p.name for p in self.target.path.glob("*.ndjson") if p.name not in ours)
        if others:
            note(f"{self.target.path} also holds {', '.join(others)}, not written by this run")


def _done(manifest: Manifest, path: Path) -> bool:
    try:
        return manifest.done(SourceFile.of(path))
    except OSError:
        return False


def _copy_stream(manifest: Manifest, name: str, out: BinaryIO) -> None:
    if name in manifest.streams():
        with manifest.open_stream(name) as source:
            shutil.copyfileobj(source, out, 1 << 20)


# Progress --------------------------------------------------------------------------------


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} doc/s", style="progress.data.speed")


def _progress(*, disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=disable,
    )


def _status(message: str) -> AbstractContextManager[object]:
    return err.status(message) if err.is_terminal else nullcontext()
