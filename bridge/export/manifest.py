"""The manifest of a bulk conversion: which documents are done, and what was written.

A conversion of thousands of documents may be killed at any moment. Its work
directory holds `manifest.sqlite3` and append-only files (the NDJSON staged by
`NdjsonWriter`, the issues). The manifest records, for each document, its file (path,
size, modification time), what became of it, and, in the same transaction, how many
bytes of each append-only file are complete. So after a kill:

- the documents recorded are skipped by `--resume` (a file changed since is
  converted again, and one no longer there forgotten, with what it wrote);
- bytes written after the last commit (a half-written line, the lines of a document
  not yet recorded) are cut off: no line is ever duplicated or truncated;
- a run with other options (format, terminology, converter version) refuses to
  resume rather than mix outputs.

Commits come every second or every 500 documents, after the files are flushed and
synced; a kill loses at most that much work.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Manifest", "ResumeError", "SourceFile"]

FILE = "manifest.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS document (
    n INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    shown TEXT NOT NULL,            -- the path as the user named it, for messages
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    converted INTEGER NOT NULL,     -- 1 converted, 0 rejected
    reason TEXT,                    -- why it was rejected: "code: message"
    summary BLOB,                   -- JSON the caller gives (counts, issues by code)
    seen INTEGER NOT NULL DEFAULT 1 -- found by this run (a resumed run forgets the others)
);
CREATE TABLE IF NOT EXISTS stream (name TEXT PRIMARY KEY, size INTEGER NOT NULL);
"""
_STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
COMMIT_EVERY = 1.0  # seconds
COMMIT_DOCUMENTS = 500


class ResumeError(Exception):
    """The work directory cannot be resumed (other options, or files changed under it)."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A document file as the manifest knows it: absolute path, size, modification time,
    and the path as the user named it (for messages)."""

    path: str
    size: int
    mtime_ns: int
    shown: str = ""

    @classmethod
    def of(cls, path: Path) -> SourceFile:
        stat = path.stat()
        return cls(os.path.abspath(path), stat.st_size, stat.st_mtime_ns, str(path))


@dataclass(frozen=True, slots=True)
class Recorded:
    path: str
    converted: bool
    reason: str | None
    summary: bytes | None


class Manifest:
    """The work directory of one bulk conversion; see the module docstring."""

    def __init__(
        self, directory: Path, options: Mapping[str, str], *, resume: bool = False
    ) -> None:
        self.directory = directory
        self.interrupted = (directory / FILE).is_file()  # an earlier run left its state
        if self.interrupted and not resume:
            shutil.rmtree(directory)
        (directory / "streams").mkdir(parents=True, exist_ok=True)
        self._streams: dict[str, BinaryIO] = {}
        self._dependents: list[str] = []
        self._in_transaction = False
        self._pending = 0
        self._last_commit = time.monotonic()
        self.db = sqlite3.connect(directory / FILE, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.executescript(_SCHEMA)
            self._check_options(dict(options))
            self.resumed = self.count()
            self._cut_uncommitted()
            self.db.execute("UPDATE document SET seen = 0")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ResumeError(f"{directory / FILE} is not a readable manifest ({exc})") from exc
        except BaseException:
            self.db.close()
            raise

    def add_tables(self, schema: str, dependents: list[str]) -> None:
        """Tables of a writer in the manifest's transactions; rows of `dependents` belong
        to the document numbered in their `document` column, and go with it."""
        self.db.executescript(schema)
        self._dependents += dependents

    # Options ----------------------------------------------------------------------

    def _check_options(self, options: dict[str, str]) -> None:
        recorded = dict(self.db.execute("SELECT name, value FROM run").fetchall())
        if not recorded:
            self.db.executemany("INSERT INTO run VALUES (?, ?)", sorted(options.items()))
            return
        differing = sorted(
            k for k in options.keys() | recorded.keys() if options.get(k) != recorded.get(k)
        )
        if differing:
            detail = ", ".join(
                f"{k} {recorded.get(k, '(none)')} then, {options.get(k, '(none)')} now"
                for k in differing
            )
            raise ResumeError(f"the interrupted run had other options ({detail})")

    # Append-only files -----------------------------------------------------------

    def _path(self, name: str) -> Path:
        if not _STREAM_NAME.fullmatch(name):
            raise ValueError(f"not a stream name: {name!r}")
        return self.directory / "streams" / name

    def _cut_uncommitted(self) -> None:
        """Cut every file to the size committed with the documents recorded."""
        committed = dict(self.db.execute("SELECT name, size FROM stream").fetchall())
        for path in (self.directory / "streams").iterdir():
            size = committed.get(path.name, 0)
            if path.stat().st_size < size:
                raise ResumeError(f"{path} is shorter than the manifest says: it was changed")
            os.truncate(path, size)

    def append(self, name: str, data: bytes) -> int:
        """Append to a stream; returns the offset the data starts at."""
        self._begin()
        handle = self._streams.get(name)
        if handle is None:
            handle = self._streams[name] = self._path(name).open("ab")
        offset = handle.tell()
        handle.write(data)
        return offset

    def streams(self) -> list[str]:
        """Names of the streams that hold committed data, sorted."""
        return [
            name
            for (name,) in self.db.execute(
                "SELECT name FROM stream WHERE size > 0 ORDER BY name"
            ).fetchall()
        ]

    def open_stream(self, name: str) -> BinaryIO:
        """A committed stream, for reading (after `commit`)."""
        return self._path(name).open("rb", buffering=1 << 20)

    # Documents -------------------------------------------------------------------

    def done(self, source: SourceFile) -> bool:
        """Whether this file, unchanged, was recorded by this run or the interrupted one."""
        row = self.db.execute(
            "SELECT n, size, mtime_ns FROM document WHERE path = ?", (source.path,)
        ).fetchone()
        if row is None or tuple(row[1:]) != (source.size, source.mtime_ns):
            return False
        self._begin()
        self.db.execute("UPDATE document SET seen = 1 WHERE n = ?", (row[0],))
        return True

    def forget_unseen(self) -> int:
        """Forget the documents of the interrupted run no longer found (moved, deleted)."""
        self._begin()
        return self._forget("seen = 0", ())

    def _forget(self, condition: str, args: tuple[object, ...]) -> int:
        """Delete the documents matching `condition`, with their rows in dependent tables
        (one statement per table, whatever the number of documents)."""
        for table in self._dependents:
            self.db.execute(
                f"DELETE FROM {table} WHERE document IN (SELECT n FROM document WHERE {condition})",
                args,
            )
        return self.db.execute(f"DELETE FROM document WHERE {condition}", args).rowcount

    def record(
        self,
        source: SourceFile,
        *,
        converted: bool,
        reason: str | None = None,
        summary: bytes | None = None,
    ) -> int:
        """Record a document (replacing what an earlier version of the file left); returns
        its number, for the rows the caller adds in the same transaction."""
        self._begin()
        if self.db.execute("SELECT 1 FROM document WHERE path = ?", (source.path,)).fetchone():
            self._forget("path = ?", (source.path,))  # a changed file: what it wrote before
        cursor = self.db.execute(
            "INSERT INTO document (path, shown, size, mtime_ns, converted, reason, summary)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                source.path,
                source.shown or source.path,
                source.size,
                source.mtime_ns,
                int(converted),
                reason,
                summary,
            ),
        )
        self._pending += 1
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def documents(self) -> Iterator[Recorded]:
        for path, converted, reason, summary in self.db.execute(
            "SELECT shown, converted, reason, summary FROM document ORDER BY n"
        ):
            yield Recorded(path, bool(converted), reason, summary)

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM document").fetchone()[0])

    # Transactions ----------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True

    def maybe_commit(self) -> None:
        """Commit when a second has passed or enough documents wait."""
        if self._pending >= COMMIT_DOCUMENTS or (
            self._pending and time.monotonic() - self._last_commit >= COMMIT_EVERY
        ):
            self.commit()

    def commit(self) -> None:
        """Make the files durable, then record their sizes with the documents."""
        if not self._in_transaction:
            return
        sizes = []
        for name, handle in self._streams.items():
            handle.flush()
            os.fsync(handle.fileno())
            sizes.append((name, handle.tell()))
        self.db.executemany(
            "INSERT INTO stream VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET size = excluded.size",
            sizes,
        )
        self.db.execute("COMMIT")
        self._in_transaction = False
        self._pending = 0
        self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit and close; the work directory stays (a later run may resume it)."""
        self.commit()
        for handle in self._streams.values():
            handle.close()
        self._streams.clear()
        self.db.close()

    def discard(self) -> None:
        """Close and remove the work directory (the run is complete and published)."""
        for handle in self._streams.values():
            handle.close()
        self._streams.clear()
        self.db.close()
        shutil.rmtree(self.directory, ignore_errors=True)
