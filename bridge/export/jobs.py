"""Bulk export jobs in the database, so that any replica queues, runs, polls and serves them.

Three tables (migration 4 of `bridge.store.schema`):

- `export_job`   one row per kick-off: its parameters, state, progress and times;
- `export_file`  each NDJSON file of a job: section (output, deleted, error), resource
                 type, resource count, bytes and number of chunks;
- `export_chunk` the NDJSON itself, in chunks of about 1 MiB, read back in order.

A job is `accepted`, then `running` (an `owner` process keeps its `heartbeat` fresh),
then `completed` or `failed`; a DELETE makes it `cancelled` from any state. The owner
writes each chunk in one transaction with its heartbeat, on the condition that it still
owns the running job: a job cancelled, or taken over after its owner stopped beating,
makes the old owner's next write fail (`JobLost`) and nothing of it is kept. Times are
epoch microseconds, as in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.export.errors import outcome_json
from bridge.store.database import Cursor, Database

__all__ = ["ExportFile", "Job", "JobLost", "JobStore"]

_JOB_COLUMNS = (
    "id, status, request, parameters, client, created_at, owner, heartbeat, attempts, "
    "transaction_time, done, total, outcome, finished_at, expires_at"
)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    status: str  # accepted | running | completed | failed | cancelled
    request: str  # the kick-off URL
    parameters: bytes  # ExportRequest.to_json()
    client: str  # who asked: only they may poll, download or delete
    created_at: int
    owner: str | None
    heartbeat: int | None
    attempts: int
    transaction_time: int | None
    done: int  # resources written so far
    total: int | None  # resources the snapshot holds for the export's types (an upper bound)
    outcome: bytes | None  # the OperationOutcome of a failed job
    finished_at: int | None
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class ExportFile:
    file_no: int
    section: str  # output | deleted | error
    resource_type: str
    count: int
    bytes: int
    chunks: int


class JobLost(Exception):
    """The job was cancelled, or another process took it over: its runner stops."""


def _job(row: Any) -> Job:
    values = list(row)
    values[3] = bytes(values[3])
    values[12] = bytes(values[12]) if values[12] is not None else None
    return Job(*values)


class JobStore:
    """The jobs of one database; a finished job's files are kept `retention` µs."""

    def __init__(self, db: Database, retention: int) -> None:
        self.db = db
        self.retention = retention
        self._lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""

    # Kick-off, polls, deletion -------------------------------------------------------

    def create(
        self,
        job_id: str,
        request: str,
        parameters: bytes,
        client: str,
        now: int,
        limit: int,
        kept_limit: int | None = None,
    ) -> str | None:
        """Queue an export; None, or why not: "waiting" when the client has `limit`
        accepted or running, "kept" when it keeps `kept_limit` completed ones (their
        files fill the database until they expire or are deleted). Counted and written
        in one transaction, one kick-off at a time: twenty concurrent kick-offs never
        all see room for themselves."""
        with self.db.transaction() as cursor:  # SQLite: BEGIN IMMEDIATE, one writer
            if self.db.dialect == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('crbio-bridge export'))")
            cursor.execute(
                "SELECT COALESCE(SUM(CASE WHEN status IN ('accepted', 'running') THEN 1 "
                "ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'completed' AND "
                "(expires_at IS NULL OR expires_at >= ?) THEN 1 ELSE 0 END), 0) "
                "FROM export_job WHERE client = ?",
                (now, client),
            )
            waiting, kept = (int(n) for n in cursor.fetchone())
            if waiting >= limit:
                return "waiting"
            if kept_limit is not None and kept >= kept_limit:
                return "kept"
            cursor.execute(
                "INSERT INTO export_job (id, status, request, parameters, client, created_at) "
                "VALUES (?, 'accepted', ?, ?, ?, ?)",
                (job_id, request, parameters, client, now),
            )
            return None

    def get(self, job_id: str) -> Job | None:
        with self.db.read() as cursor:
            cursor.execute(f"SELECT {_JOB_COLUMNS} FROM export_job WHERE id = ?", (job_id,))
            row = cursor.fetchone()
        return _job(row) if row else None

    def cancel(self, job_id: str, now: int) -> bool:
        with self.db.transaction() as cursor:
            cursor.execute(
                "UPDATE export_job SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status <> 'cancelled' RETURNING id",
                (now, job_id),
            )
            return cursor.fetchone() is not None

    def files(self, job_id: str) -> list[ExportFile]:
        with self.db.read() as cursor:
            cursor.execute(
                "SELECT file_no, section, resource_type, count, bytes, chunks FROM export_file "
                "WHERE job_id = ? ORDER BY file_no",
                (job_id,),
            )
            return [ExportFile(*row) for row in cursor.fetchall()]

    def chunks(self, job_id: str, file: ExportFile) -> Iterator[bytes]:
        """The file's bytes, one chunk (one short read) at a time."""
        for chunk_no in range(file.chunks):
            with self.db.read() as cursor:
                cursor.execute(
                    "SELECT data FROM export_chunk WHERE job_id = ? AND file_no = ? "
                    "AND chunk_no = ?",
                    (job_id, file.file_no, chunk_no),
                )
                row = cursor.fetchone()
            if row is None:  # purged while being read: the file ends short, never wrong
                return
            yield bytes(row[0])

    def touch(self, job_id: str, now: int) -> None:
        """A download started: the files stay until it is over, whatever `expires_at`."""
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE export_job SET accessed_at = ? WHERE id = ?", (now, job_id))

    # The runner ----------------------------------------------------------------------

    def claim(self, owner: str, now: int, stale_before: int, max_attempts: int) -> Job | None:
        """The oldest job waiting, or running without a heartbeat since `stale_before`
        (its process died): now `owner`'s. A job that was started `max_attempts` times
        already is failed instead (it takes its process down, or never ends)."""
        with self.db.transaction() as cursor:
            while True:
                cursor.execute(
                    "SELECT id, attempts FROM export_job WHERE status = 'accepted' OR "
                    "(status = 'running' AND heartbeat < ?) ORDER BY created_at LIMIT 1"
                    + self._lock,
                    (stale_before,),
                )
                row = cursor.fetchone()
                if row is None:
                    return None
                job_id, attempts = row
                if attempts < max_attempts:
                    break
                _finish(cursor, job_id, now, now + self.retention, _interrupted(attempts))
            cursor.execute(
                "UPDATE export_job SET status = 'running', owner = ?, heartbeat = ?, "
                "attempts = attempts + 1, done = 0 WHERE id = ?",
                (owner, now, job_id),
            )
            _clear_files(cursor, job_id)  # what an interrupted attempt had written
            cursor.execute(f"SELECT {_JOB_COLUMNS} FROM export_job WHERE id = ?", (job_id,))
            return _job(cursor.fetchone())

    def start(self, job: Job, owner: str, transaction_time: int, total: int, now: int) -> None:
        with self.db.transaction() as cursor:
            _owned(
                cursor,
                job.id,
                owner,
                "transaction_time = ?, total = ?, heartbeat = ?",
                (transaction_time, total, now),
            )

    def beat(self, job_id: str, owner: str, done: int, now: int) -> None:
        with self.db.transaction() as cursor:
            _owned(cursor, job_id, owner, "done = ?, heartbeat = ?", (done, now))

    def write_chunk(
        self, job_id: str, owner: str, file: ExportFile, data: bytes, done: int, now: int
    ) -> None:
        """Append chunk `file.chunks - 1` to a file (`file`: its counts with this chunk)."""
        with self.db.transaction() as cursor:
            _owned(cursor, job_id, owner, "done = ?, heartbeat = ?", (done, now))
            cursor.execute(
                "INSERT INTO export_chunk (job_id, file_no, chunk_no, data) VALUES (?, ?, ?, ?)",
                (job_id, file.file_no, file.chunks - 1, data),
            )
            cursor.execute(
                "INSERT INTO export_file (job_id, file_no, section, resource_type, count, "
                "bytes, chunks) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, file_no) "
                "DO UPDATE SET count = excluded.count, bytes = excluded.bytes, "
                "chunks = excluded.chunks",
                (
                    job_id,
                    file.file_no,
                    file.section,
                    file.resource_type,
                    file.count,
                    file.bytes,
                    file.chunks,
                ),
            )

    def complete(self, job_id: str, owner: str, done: int, now: int) -> None:
        with self.db.transaction() as cursor:
            _owned(
                cursor,
                job_id,
                owner,
                "status = 'completed', done = ?, finished_at = ?, expires_at = ?, owner = NULL",
                (done, now, now + self.retention),
            )

    def fail(self, job_id: str, owner: str, outcome: bytes, now: int) -> None:
        with self.db.transaction() as cursor:
            _owned(cursor, job_id, owner, "owner = owner", ())
            _finish(cursor, job_id, now, now + self.retention, outcome)

    def release(self, job_id: str, owner: str) -> None:
        """Hand a job back (its process stops): the next claim starts it again at once."""
        with self.db.transaction() as cursor:
            cursor.execute(
                "UPDATE export_job SET status = 'accepted', owner = NULL, heartbeat = NULL, "
                "attempts = attempts - 1 WHERE id = ? AND owner = ? AND status = 'running'",
                (job_id, owner),
            )
            _clear_files(cursor, job_id)

    # Clean-up ------------------------------------------------------------------------

    def purgeable(self, now: int, downloading_since: int) -> list[str]:
        """Jobs to delete: cancelled ones, and finished ones past their expiry whose files
        nobody started downloading after `downloading_since`."""
        with self.db.read() as cursor:
            cursor.execute(
                "SELECT id FROM export_job WHERE status = 'cancelled' OR "
                "(status IN ('completed', 'failed') AND expires_at < ? AND "
                "(accessed_at IS NULL OR accessed_at < ?))",
                (now, downloading_since),
            )
            return [row[0] for row in cursor.fetchall()]

    def purge(self, job_id: str) -> None:
        """Delete a job and its files, one file per transaction (no long lock)."""
        for file in self.files(job_id):
            with self.db.transaction() as cursor:
                cursor.execute(
                    "DELETE FROM export_chunk WHERE job_id = ? AND file_no = ?",
                    (job_id, file.file_no),
                )
                cursor.execute(
                    "DELETE FROM export_file WHERE job_id = ? AND file_no = ?",
                    (job_id, file.file_no),
                )
        with self.db.transaction() as cursor:
            _clear_files(cursor, job_id)  # a chunk its runner wrote meanwhile
            cursor.execute("DELETE FROM export_job WHERE id = ?", (job_id,))


def _owned(
    cursor: Cursor, job_id: str, owner: str, assignments: str, values: tuple[Any, ...]
) -> None:
    """Update the job while `owner` runs it; otherwise the runner has lost it."""
    cursor.execute(
        f"UPDATE export_job SET {assignments} WHERE id = ? AND owner = ? "
        "AND status = 'running' RETURNING id",
        (*values, job_id, owner),
    )
    if cursor.fetchone() is None:
        raise JobLost(job_id)


def _clear_files(cursor: Cursor, job_id: str) -> None:
    cursor.execute("DELETE FROM export_chunk WHERE job_id = ?", (job_id,))
    cursor.execute("DELETE FROM export_file WHERE job_id = ?", (job_id,))


def _finish(cursor: Cursor, job_id: str, now: int, expires_at: int, outcome: bytes) -> None:
    """Fail a job with its OperationOutcome."""
    cursor.execute(
        "UPDATE export_job SET status = 'failed', outcome = ?, finished_at = ?, "
        "expires_at = ?, owner = NULL WHERE id = ?",
        (outcome, now, expires_at, job_id),
    )
    _clear_files(cursor, job_id)


def _interrupted(attempts: int) -> bytes:
    return outcome_json(
        "fatal",
        "incomplete",
        f"the export was interrupted {attempts} times; "
        "ask for it again, with fewer types or a later _since",
    )
