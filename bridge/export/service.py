"""The bulk export service of one application: kick-off, status, manifest, files, deletion.

The API stays thin: it reads the request, calls these, and writes what they return.
An export belongs to the client that asked for it (the token's name): another client
is answered as if it did not exist, which the specification allows ("limiting them to
the client that originated the export"). Without credentials configured every request
is the same anonymous client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bridge.export.bulk import Limits
from bridge.export.errors import ExportNotFound, InvalidExportRequest, TooManyExports
from bridge.export.jobs import ExportFile, Job, JobStore
from bridge.export.request import ExportRequest
from bridge.export.worker import ExportWorker
from bridge.store import ResourceNotFound, Store
from bridge.store.records import instant, now_micros

__all__ = ["BulkExports", "Progress"]

MAX_WAITING = 5  # exports a client may have accepted or running at once
MAX_KEPT = 20  # completed exports a client may keep (their files stay in the database)
_SECOND = 1_000_000


class Progress:
    """An export not complete yet: the X-Progress text and the Retry-After seconds (half
    the time it should still take at its pace so far, between 1 and 10 seconds)."""

    def __init__(self, job: Job, now: int) -> None:
        if job.status == "accepted" or job.total is None:
            self.text, self.retry_after = ("queued" if job.status == "accepted" else "starting"), 1
            return
        total = max(job.total, job.done, 1)
        self.text = f"{min(job.done * 100 // total, 99)}% ({job.done} of at most {total} resources)"
        elapsed = max(now - job.created_at, 1) / _SECOND
        if job.done <= 0:
            self.retry_after = 1 if elapsed < 5 else 5
            return
        remaining = (total - job.done) * elapsed / job.done
        self.retry_after = int(min(max(remaining / 2, 1), 10))


class BulkExports:
    def __init__(
        self,
        store: Store,
        *,
        retention: float,
        worker: bool = True,
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.jobs = JobStore(store.db, int(retention * _SECOND))
        self.worker = ExportWorker(store, self.jobs, limits=limits) if worker else None

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def kick_off(self, request: ExportRequest, request_url: str, client: str) -> str:
        """Queue an export; its id."""
        for patient in request.patients:
            try:
                self.store.read("Patient", patient.removeprefix("Patient/"))
            except ResourceNotFound as exc:  # deleted ones too
                raise InvalidExportRequest(f"patient {patient} is not on this server") from exc
        job_id = str(uuid.uuid4())
        refused = self.jobs.create(
            job_id, request_url, request.to_json(), client, now_micros(), MAX_WAITING, MAX_KEPT
        )
        if refused == "waiting":
            raise TooManyExports(
                f"{MAX_WAITING} exports of this client are already waiting or running; "
                "delete one, or try again once one is complete",
                retry_after=30,
            )
        if refused == "kept":
            raise TooManyExports(
                f"this client keeps {MAX_KEPT} completed exports: delete those it has "
                "downloaded (DELETE on their status URL) before starting another",
                retry_after=60,
            )
        if self.worker is not None:
            self.worker.wake()
        return job_id

    def job(self, job_id: str, client: str) -> Job:
        """The client's export, while it can be polled (not deleted, not expired)."""
        job = self.jobs.get(job_id)
        if (
            job is None
            or job.client != client
            or job.status == "cancelled"
            or (job.expires_at is not None and job.expires_at < now_micros())
        ):
            raise ExportNotFound(f"no export {job_id} (never started, deleted or expired)")
        return job

    def cancel(self, job_id: str, client: str) -> None:
        self.job(job_id, client)
        if not self.jobs.cancel(job_id, now_micros()):
            raise ExportNotFound(f"no export {job_id}")

    def manifest(
        self, job: Job, file_url: Callable[[ExportFile], str], requires_token: bool
    ) -> dict[str, Any]:
        """The complete-status body of a completed export."""
        files = self.jobs.files(job.id)
        request = ExportRequest.from_json(job.parameters)

        def items(section: str) -> list[dict[str, Any]]:
            return [
                {"type": f.resource_type, "url": file_url(f), "count": f.count}
                for f in files
                if f.section == section
            ]

        manifest: dict[str, Any] = {
            "transactionTime": instant(job.transaction_time or job.created_at),
            "request": job.request,
            "requiresAccessToken": requires_token,
            "output": items("output"),
        }
        if request.since is not None:  # what was deleted since the client's last export
            manifest["deleted"] = items("deleted")
        manifest["error"] = items("error")
        return manifest

    def file(self, job_id: str, file_no: int, client: str) -> tuple[ExportFile, Iterator[bytes]]:
        """A file of a completed export and its bytes, read a chunk at a time."""
        job = self.job(job_id, client)
        found = next((f for f in self.jobs.files(job_id) if f.file_no == file_no), None)
        if job.status != "completed" or found is None:
            raise ExportNotFound(f"export {job_id} has no file {file_no}")
        self.jobs.touch(job_id, now_micros())
        return found, self.jobs.chunks(job_id, found)
