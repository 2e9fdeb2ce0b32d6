"""One small face over two engines: SQLite (stdlib, WAL) and PostgreSQL (psycopg 3, pooled).

SQL is written once with `?` placeholders; PostgreSQL gets them as `%s`. Each
thread has its own SQLite connection (WAL lets readers run beside the writer);
PostgreSQL connections come from a pool. `transaction()` gives a cursor whose
statements commit together or not at all; `snapshot()` a cursor on a connection of its
own whose reads all see the database as it was at its first statement.

No statement runs for ever: `set_statement_timeout` bounds each one (PostgreSQL's
`statement_timeout`; on SQLite a progress handler that interrupts past the deadline),
and an `Interrupt` lets another thread stop what a read is running (the API does so
when its client disconnects). Either way the caller gets `QueryTimeout` or
`QueryCancelled`, and the connection is free again.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from bridge.store.checkpoints import Checkpointer
from bridge.store.records import QueryCancelled, QueryTimeout

__all__ = ["Cursor", "Database", "Interrupt", "open_database"]

_PROGRESS_STEPS = 1_000  # SQLite virtual machine steps between two looks at the clock


class Interrupt:
    """Stops, from another thread, the statements of the read it was given to.

    The read binds the engine's own cancel (sqlite3's `interrupt`, psycopg's
    `cancel_safe`) while it holds a connection; `cancel()` calls it, or, before the
    read starts, makes it stop at its first statement.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            stop = self._stop
        if stop is not None:
            try:
                stop()
            except Exception:  # the statement ended meanwhile, or the connection is gone
                pass

    @contextmanager
    def bound(self, stop: Callable[[], Any]) -> Iterator[None]:
        with self._lock:
            if self.cancelled:
                raise QueryCancelled("the client went away before the query started")
            self._stop = stop
        try:
            yield
        finally:
            with self._lock:
                self._stop = None


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database:
    """Engine-neutral access: `dialect` is "sqlite" or "postgresql"."""

    dialect: str
    statement_timeout: float | None = None  # seconds; None: statements are not bounded

    def transaction(self, *, pipeline: bool = True) -> Any:  # a context manager → Cursor
        """Statements that commit together or not at all. PostgreSQL sends them without
        waiting for each answer (pipeline mode), unless `pipeline` is False: for schema
        changes, after which psycopg forgets its prepared statements (DEALLOCATE ALL),
        which in a pipeline could come after statements prepared meanwhile."""
        raise NotImplementedError

    def read(self, interrupt: Interrupt | None = None) -> Any:  # a Cursor, for reads only
        raise NotImplementedError

    def snapshot(self) -> Any:  # a context manager yielding a Cursor, reads of one instant
        raise NotImplementedError

    def set_statement_timeout(self, seconds: float | None) -> None:
        self.statement_timeout = seconds if seconds and seconds > 0 else None

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        else:  # one shared in-memory database for every thread
            self.path = f"file:crbio-{id(self)}?mode=memory&cache=shared"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._writer = threading.Lock()
        # In memory there is no log to checkpoint
        self._checkpoints = None if self.path.startswith("file:") else Checkpointer(self.path)
        self._keepalive = self._connect()  # keeps a shared in-memory database alive

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            uri=self.path.startswith("file:"),
            timeout=30,
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # durability: see checkpoints.py
        connection.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints.py runs them
        connection.execute("PRAGMA journal_size_limit=67108864")  # the log cut to 64 MB
        # 2 MB by default: a group of documents (crbio load) spilled pages mid-transaction
        connection.execute("PRAGMA cache_size=-32768")  # 32 MB, taken as pages are used
        connection.execute("PRAGMA foreign_keys=ON")
        connection.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)
        with self._lock:
            self._all.append(connection)
        return connection

    def _past_deadline(self) -> bool:
        """SQLite's progress handler: True stops the running statement ("interrupted")."""
        deadline = getattr(self._local, "deadline", None)
        return deadline is not None and time.monotonic() > deadline

    @contextmanager
    def _bounded(self, interrupt: Interrupt | None = None) -> Iterator[sqlite3.Connection]:
        """This thread's connection, its statements bounded by the timeout and `interrupt`."""
        connection = self._connection()
        timeout = self.statement_timeout
        self._local.deadline = time.monotonic() + timeout if timeout else None
        try:
            if interrupt is None:
                yield connection
            else:
                with interrupt.bound(connection.interrupt):
                    yield connection
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            if interrupt is not None and interrupt.cancelled:
                raise QueryCancelled("the client went away; its query was stopped") from exc
            raise QueryTimeout(
                f"the query ran past the statement timeout of {timeout:g} s and was stopped"
            ) from exc
        finally:
            self._local.deadline = None

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError(f"the database {self.path} is closed")
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    @contextmanager
    def transaction(self, *, pipeline: bool = True) -> Iterator[Cursor]:
        """One writer at a time: the threads of this process queue on a lock, woken as
        soon as it is free (SQLite's busy handler, left for other processes, sleeps up
        to 100 ms between tries: the tail latency of concurrent $ingest)."""
        with self._writer, self._bounded() as connection:
            connection.execute("BEGIN IMMEDIATE")  # the file's write lock, taken up front
            try:
                yield connection.cursor()
            except BaseException:
                if connection.in_transaction:  # an interrupted write already rolled it back
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        if self._checkpoints is not None:
            self._checkpoints.committed()

    @contextmanager
    def read(self, interrupt: Interrupt | None = None) -> Iterator[Cursor]:
        with self._bounded(interrupt) as connection:
            yield connection.cursor()

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A read transaction on a connection of its own (a thread's connection may be
        writing meanwhile): in WAL mode its first read fixes what every later one sees,
        whatever commits in between."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"the database {self.path} is closed")
        connection = self._connect()
        try:
            connection.execute("BEGIN")
            yield connection.cursor()
        finally:
            with self._lock:
                if connection in self._all:
                    self._all.remove(connection)
            connection.close()  # ends the read transaction

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
        with self._lock:
            self._closed = True
            for connection in self._all:
                connection.close()
            self._all.clear()


_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """`sql` with PostgreSQL's placeholders: the same few statements come again and again."""
    return _PLACEHOLDER.sub("%s", sql)


class _PgCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(_pg_sql(sql), params, prepare=True)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(_pg_sql(sql), rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": False},
            configure=self._configure,
        )

    def _configure(self, connection: Any) -> None:
        """Each new connection: the session's statement timeout (none set: the server's)."""
        if self.statement_timeout:
            connection.execute(f"SET statement_timeout = {round(self.statement_timeout * 1000)}")
            connection.commit()

    def set_statement_timeout(self, seconds: float | None) -> None:
        before = self.statement_timeout
        super().set_statement_timeout(seconds)
        if self.statement_timeout != before:
            self._pool.drain()  # connections made again, each configured with the new value

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """PostgreSQL's cancellations as the store's own errors."""
        from psycopg.errors import QueryCanceled

        try:
            yield
        except QueryCanceled as exc:
            if "statement timeout" in str(exc):
                raise QueryTimeout(
                    f"the query ran past the statement timeout of {self.statement_timeout:g} s "
                    "and was stopped"
                ) from exc
            raise QueryCancelled("the client went away; its query was stopped") from exc

    @contextmanager
    def transaction(self, *, pipeline: bool = True) -> Iterator[Cursor]:
        with self._errors(), self._pool.connection() as connection:
            with (
                connection.pipeline() if pipeline else nullcontext(),
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield _PgCursor(cursor)

    @contextmanager
    def read(self, interrupt: Interrupt | None = None) -> Iterator[Cursor]:
        """A cursor outside any transaction (autocommit): each read is one round trip.

        Inside a transaction a read would cost a BEGIN and a ROLLBACK more, and psycopg
        forgets a connection's prepared statements at every rollback, so each search
        would be planned again: together two thirds of a search's time. The statements
        of one read (a page and what it includes) may then see different commits, which
        FHIR search allows.
        """
        with self._errors(), self._pool.connection() as connection:
            connection.autocommit = True
            try:
                if interrupt is None:
                    with connection.cursor() as cursor:
                        yield _PgCursor(cursor)
                else:
                    with interrupt.bound(connection.cancel_safe), connection.cursor() as cursor:
                        yield _PgCursor(cursor)
            finally:
                if not connection.closed:  # a broken one is discarded by the pool
                    connection.autocommit = False

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A REPEATABLE READ, READ ONLY transaction: its first statement takes the snapshot
        every later statement reads (commits made meanwhile stay invisible to it)."""
        from psycopg import IsolationLevel

        with self._errors(), self._pool.connection() as connection:
            connection.isolation_level = IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    yield _PgCursor(cursor)
            finally:
                if not connection.closed:  # the pool hands it out again as it was
                    connection.isolation_level = None
                    connection.read_only = None

    def close(self) -> None:
        self._pool.close()


def open_database(url: str) -> Database:
    """`sqlite:///path`, `sqlite://:memory:` or `postgresql://…`."""
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        return SqliteDatabase(
            ":memory:" if path in ("", ":memory:", "/:memory:") else path.removeprefix("/")
        )
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///… or postgresql://…")
