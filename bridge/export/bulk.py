"""Running one export: the store at one instant, written as NDJSON files in the database.

The whole export reads one snapshot (`Store.snapshot`): its instant is the manifest's
`transactionTime`, every resource updated up to it is there, none updated after it.
Each resource type is read in `seq` order, a page of keys at a time, then its rows in
batches of about 8 MiB (a Binary may weigh megabytes), and written as it comes: lines
are buffered up to about 1 MiB, stored as one chunk with the job's heartbeat, and a new
file starts every 100,000 resources. Memory stays bounded whatever the store holds.

Each line is the stored resource, current version, as the store keeps it (references
`Type/id`), with one change the specification asks for: an attachment that points to
its Binary by relative URL (`"url": "Binary/<id>"`) gets the absolute URL of that Binary
on this server ("the url element SHALL be an absolute url that can be de-referenced to
the attachment's content"), readable with the same access token.

With `_since`, the resources of the exported types deleted after it are listed in
`deleted` files, as transaction Bundles of DELETE entries (at patient level, those whose
last version was in the compartments; `_typeFilter` cannot apply to them: a deleted
resource has no index rows left).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any

import orjson

from bridge.export.compartment import patients_of, references_followed
from bridge.export.errors import outcome_json
from bridge.export.jobs import ExportFile, Job, JobStore
from bridge.export.request import ExportRequest
from bridge.mapping import dumps
from bridge.store import Store
from bridge.store.content import unpack
from bridge.store.database import Cursor
from bridge.store.records import now_micros
from bridge.store.search import condition_sql

__all__ = ["Limits", "Stopped", "base_of", "run_export"]

_IN_LIST = 500  # ids per IN (…) when looking up the resources a Provenance or Binary names
_DELETIONS_PER_BUNDLE = 500


@dataclass(frozen=True, slots=True)
class Limits:
    file_resources: int = 100_000  # a new file after this many resources
    chunk_bytes: int = 1 << 20  # NDJSON stored in chunks of about this size
    batch_bytes: int = 8 << 20  # resources read from the snapshot in batches of about this
    page_rows: int = 1000  # keys read per page
    beat_seconds: float = 5.0  # the heartbeat of a job that writes nothing for a while


class Stopped(Exception):
    """The process is stopping: the job is handed back, to be started again."""


def base_of(request_url: str) -> str:
    """The FHIR base of a kick-off URL.

    >>> base_of("https://h/fhir/Patient/$export?_type=Observation")
    'https://h/fhir'
    """
    base = request_url.split("?", 1)[0].rsplit("/$export", 1)[0]
    return base.removesuffix("/Patient")


def ndjson_line(content: bytes, base: str) -> bytes:
    """A stored resource as its NDJSON line (the store writes compact JSON: `"url":"Binary/`
    can only be an element and its value, never text inside a string)."""
    return content.replace(b'"url":"Binary/', b'"url":"' + base.encode() + b"/Binary/")


class _Sink:
    """NDJSON lines → files of chunks, each chunk written with the job's heartbeat."""

    def __init__(self, jobs: JobStore, job: Job, owner: str, limits: Limits) -> None:
        self.jobs, self.job_id, self.owner, self.limits = jobs, job.id, owner, limits
        self.file: ExportFile | None = None
        self.next_file = 0
        self.section, self.resource_type = "output", ""
        self.buffer = bytearray()
        self.buffered = 0  # lines in the buffer
        self.done = 0  # resources written to the output section
        self.last_beat = monotonic()

    def open(self, section: str, resource_type: str) -> None:
        self.flush()
        self.file = None
        self.section, self.resource_type = section, resource_type

    def add(self, line: bytes) -> None:
        if self.file is None or self.file.count + self.buffered >= self.limits.file_resources:
            self.flush()
            self.file = ExportFile(self.next_file, self.section, self.resource_type, 0, 0, 0)
            self.next_file += 1
        self.buffer += line
        self.buffer += b"\n"
        self.buffered += 1
        if self.section == "output":
            self.done += 1
        if len(self.buffer) >= self.limits.chunk_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.buffer or self.file is None:
            return
        self.file = replace(
            self.file,
            count=self.file.count + self.buffered,
            bytes=self.file.bytes + len(self.buffer),
            chunks=self.file.chunks + 1,
        )
        self.jobs.write_chunk(
            self.job_id, self.owner, self.file, bytes(self.buffer), self.done, now_micros()
        )
        self.buffer.clear()
        self.buffered = 0
        self.last_beat = monotonic()

    def beat(self) -> None:
        if monotonic() - self.last_beat >= self.limits.beat_seconds:
            self.jobs.beat(self.job_id, self.owner, self.done, now_micros())
            self.last_beat = monotonic()


class _Compartments:
    """Which rows belong to the patients asked for (all patients when none is named)."""

    def __init__(self, cursor: Cursor, patients: tuple[str, ...]) -> None:
        self.cursor = cursor
        self.patients = set(patients)

    def _wanted(self, found: set[str]) -> bool:
        return bool(found & self.patients) if self.patients else bool(found)

    def select(self, rows: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        keep: list[bool] = []
        following: dict[int, list[tuple[str, str]]] = {}
        for index, (_, content) in enumerate(rows):
            resource = orjson.loads(content)
            keep.append(self._wanted(patients_of(resource)))
            if not keep[-1]:
                followed = references_followed(resource)
                if followed:
                    following[index] = followed
        if following:
            members = self._members({ref for refs in following.values() for ref in refs})
            for index, refs in following.items():
                keep[index] = any(ref in members for ref in refs)
        return [row for row, kept in zip(rows, keep, strict=True) if kept]

    def _members(self, references: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The referenced resources that are in the compartments asked for."""
        by_type: dict[str, list[str]] = {}
        for resource_type, resource_id in references:
            by_type.setdefault(resource_type, []).append(resource_id)
        members = set()
        for resource_type, ids in by_type.items():
            for start in range(0, len(ids), _IN_LIST):
                part = ids[start : start + _IN_LIST]
                self.cursor.execute(
                    "SELECT id, content FROM resource WHERE resource_type = ? AND NOT deleted "
                    f"AND id IN ({', '.join('?' for _ in part)})",
                    (resource_type, *part),
                )
                for resource_id, content in self.cursor.fetchall():
                    if self._wanted(patients_of(orjson.loads(unpack(content)))):
                        members.add((resource_type, resource_id))
        return members


def _where(request: ExportRequest, resource_type: str, deleted: bool) -> tuple[str, list[Any]]:
    """The rows of a type the export takes: `_since`, then its `_typeFilter` searches."""
    where = ["r.resource_type = ?", "r.deleted" if deleted else "NOT r.deleted"]
    params: list[Any] = [resource_type]
    if request.since is not None:
        where.append("r.last_updated > ?")
        params.append(request.since)
    searches = []
    for query in request.filters_of(resource_type) if not deleted else ():
        parts = [condition_sql(condition, "r", resource_type) for condition in query.conditions]
        searches.append("(" + " AND ".join(sql for sql, _ in parts) + ")")
        params += [arg for _, args in parts for arg in args]
    if searches:
        where.append("(" + " OR ".join(searches) + ")")
    return " AND ".join(where), params


def _batches(
    cursor: Cursor, where: str, params: list[Any], limits: Limits, columns: str = "r.id, r.content"
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows in `seq` order, in batches of at most `batch_bytes` (or one row)."""
    after = -1
    while True:
        cursor.execute(
            f"SELECT r.seq, LENGTH(r.content) FROM resource r WHERE {where} AND r.seq > ? "
            "ORDER BY r.seq LIMIT ?",
            (*params, after, limits.page_rows),
        )
        keys = cursor.fetchall()
        if not keys:
            return
        start = 0
        while start < len(keys):
            end, size = start + 1, int(keys[start][1] or 0)
            while end < len(keys) and size + int(keys[end][1] or 0) <= limits.batch_bytes:
                size += int(keys[end][1] or 0)
                end += 1
            cursor.execute(
                f"SELECT {columns} FROM resource r WHERE {where} AND r.seq >= ? AND r.seq <= ? "
                "ORDER BY r.seq",
                (*params, keys[start][0], keys[end - 1][0]),
            )
            rows = cursor.fetchall()
            if columns.endswith("r.content"):  # the JSON, as stored compressed
                yield [(*row[:-1], unpack(row[-1])) for row in rows]
            else:
                yield [tuple(row) for row in rows]
            start = end
        after = keys[-1][0]


def _count(cursor: Cursor, where: str, params: list[Any]) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM resource r WHERE {where}", params)
    return int(cursor.fetchone()[0])


def _last_versions(cursor: Cursor, resource_type: str, rows: list[Any]) -> list[tuple[str, bytes]]:
    """Each deleted resource with the content of its last version before the deletion."""
    found = []
    for resource_id, version_id in rows:
        cursor.execute(
            "SELECT content FROM resource_history WHERE resource_type = ? AND id = ? "
            "AND version_id = ?",
            (resource_type, resource_id, version_id - 1),
        )
        row = cursor.fetchone()
        if row is not None and row[0] is not None:
            found.append((resource_id, unpack(row[0])))
    return found


def _write_deleted(
    cursor: Cursor,
    request: ExportRequest,
    compartments: _Compartments | None,
    sink: _Sink,
    limits: Limits,
    stop: Callable[[], bool],
) -> None:
    """Resources deleted since `_since`: transaction Bundles of DELETE entries."""
    sink.open("deleted", "Bundle")
    entries: list[dict[str, Any]] = []
    for resource_type in request.types:
        where, params = _where(request, resource_type, deleted=True)
        for rows in _batches(cursor, where, params, limits, "r.id, r.version_id"):
            if stop():
                raise Stopped
            if compartments is not None:
                chosen = compartments.select(_last_versions(cursor, resource_type, rows))
                ids = [resource_id for resource_id, _ in chosen]
            else:
                ids = [resource_id for resource_id, _ in rows]
            for resource_id in ids:
                entries.append(
                    {"request": {"method": "DELETE", "url": f"{resource_type}/{resource_id}"}}
                )
                if len(entries) == _DELETIONS_PER_BUNDLE:
                    sink.add(_deletion_bundle(entries))
                    entries = []
            sink.beat()
    if entries:
        sink.add(_deletion_bundle(entries))


def _deletion_bundle(entries: list[dict[str, Any]]) -> bytes:
    return dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def run_export(
    store: Store,
    jobs: JobStore,
    job: Job,
    owner: str,
    *,
    limits: Limits | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run a job `owner` has claimed, to completion (`JobLost` or `Stopped` otherwise)."""
    limits = limits or Limits()
    request = ExportRequest.from_json(job.parameters)
    base = base_of(job.request)
    sink = _Sink(jobs, job, owner, limits)
    with store.snapshot() as (cursor, transaction_time):
        scans = [(t, _where(request, t, deleted=False)) for t in request.types]
        total = sum(_count(cursor, where, params) for _, (where, params) in scans)
        jobs.start(job, owner, transaction_time, total, now_micros())
        compartments = (
            _Compartments(cursor, request.patients) if request.level == "patient" else None
        )
        for resource_type, (where, params) in scans:
            sink.open("output", resource_type)
            for rows in _batches(cursor, where, params, limits):
                if stop():
                    raise Stopped
                chosen = compartments.select(rows) if compartments is not None else rows
                for _, content in chosen:
                    sink.add(ndjson_line(content, base))
                sink.beat()
        if request.since is not None:
            _write_deleted(cursor, request, compartments, sink, limits, stop)
    sink.open("error", "OperationOutcome")
    for message in request.ignored:
        sink.add(outcome_json("warning", "not-supported", f"left aside: {message}"))
    sink.flush()
    jobs.complete(job.id, owner, sink.done, now_micros())
