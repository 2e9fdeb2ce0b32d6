"""The thread that runs the queued exports of the database, in each server process.

One export at a time per process; replicas on one database share the queue (a claim
takes a row that no other claim can take: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the
single writer on SQLite). A kick-off in this process wakes the thread at once; jobs
queued elsewhere are seen within `idle` seconds.

A job whose process died (killed, machine lost) keeps `running` with a heartbeat that
stops moving: after `stale` seconds any worker claims it and starts it again from the
beginning, with a new snapshot, so the client's polls still end with a manifest. A job
started `max_attempts` times fails with an OperationOutcome instead. A process that
stops cleanly hands its job back, to be started again at once. Every `purge_every`
seconds the worker deletes cancelled exports and expired ones (`BRIDGE_EXPORT_RETENTION`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from bridge.export.bulk import Limits, Stopped, run_export
from bridge.export.errors import outcome_json
from bridge.export.jobs import Job, JobLost, JobStore
from bridge.store import Store
from bridge.store.records import now_micros

__all__ = ["ExportWorker"]

log = logging.getLogger("bridge.export")
_SECOND = 1_000_000


class ExportWorker:
    def __init__(
        self,
        store: Store,
        jobs: JobStore,
        *,
        limits: Limits | None = None,
        idle: float = 2.0,
        stale: float = 60.0,
        max_attempts: int = 3,
        purge_every: float = 60.0,
        download_grace: float = 3600.0,
    ) -> None:
        self.store, self.jobs, self.limits = store, jobs, limits or Limits()
        self.idle, self.stale, self.max_attempts = idle, stale, max_attempts
        self.purge_every, self.download_grace = purge_every, download_grace
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bulk-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_purge = 0.0
        while not self._stop.is_set():
            try:
                if now_micros() >= next_purge:
                    self.purge()
                    next_purge = now_micros() + self.purge_every * _SECOND
                if self.run_next():
                    continue
            except Exception:  # the database went away a moment: try again later
                log.exception("bulk export worker")
            self._wake.wait(self.idle)
            self._wake.clear()

    def run_next(self) -> bool:
        """Claim and run one job; False when none waits."""
        now = now_micros()
        job = self.jobs.claim(self.owner, now, now - int(self.stale * _SECOND), self.max_attempts)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        try:
            run_export(
                self.store, self.jobs, job, self.owner, limits=self.limits, stop=self._stop.is_set
            )
        except JobLost:
            log.info("bulk export cancelled or taken over", extra={"fields": {"job": job.id}})
        except Stopped:
            self.jobs.release(job.id, self.owner)
        except Exception as exc:
            log.exception("bulk export failed", extra={"fields": {"job": job.id}})
            try:
                failure = f"the export failed ({type(exc).__name__}); it has been logged"
                outcome = outcome_json("fatal", "exception", failure)
                self.jobs.fail(job.id, self.owner, outcome, now_micros())
            except JobLost:
                pass

    def purge(self) -> None:
        now = now_micros()
        for job_id in self.jobs.purgeable(now, now - int(self.download_grace * _SECOND)):
            self.jobs.purge(job_id)
