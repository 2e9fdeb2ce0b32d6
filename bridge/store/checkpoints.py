"""SQLite checkpoints in a thread of their own, not in the commit that fills the log.

In WAL mode a commit appends pages to the write-ahead log; a checkpoint copies them
into the database file and syncs it. SQLite runs one by itself in whichever commit
takes the log past 1,000 pages: that commit then waits for the copy and the syncs
(a third of an ingestion's time, and seconds at the tail of a loaded server). Here
connections have automatic checkpoints turned off and a thread runs a PASSIVE
checkpoint (it never blocks readers or the writer) at most once per `interval` after
commits, so that the log stays small.

Durability is SQLite's with `synchronous=NORMAL` in WAL mode: a committed
transaction survives the process being killed (its pages are in the log, replayed at
the next open); after a power loss or an operating-system crash the transactions
committed since the last checkpoint synced the log may be rolled back, never half
applied. `synchronous=FULL` would sync the log at every commit instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["Checkpointer"]

logger = logging.getLogger(__name__)


class Checkpointer:
    """`committed()` after each commit; `close()` stops the thread (started at need)."""

    def __init__(self, path: str, *, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._wanted = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        self._wanted.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:  # closed and removed meanwhile (a store opened briefly)
            if not self._closed.is_set():
                logger.warning("SQLite checkpoints stopped: %s", exc)
            return
        try:
            while not self._closed.is_set():
                self._wanted.wait()
                self._wanted.clear()
                if self._closed.wait(self.interval):  # commits arriving meanwhile: one go
                    break
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # tried again after the next commit
                    logger.warning("SQLite checkpoint failed: %s", exc)
        finally:
            connection.close()

    def close(self) -> None:
        self._closed.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
