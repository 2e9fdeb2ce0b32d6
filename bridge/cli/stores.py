"""Which store a command uses, said out loud; never a database created by surprise.

BRIDGE_DATABASE_URL names the store (default `sqlite:///./data/crbio.sqlite3`, relative
to the current directory). Commands that write (serve, import-jdv, sync) create a new
SQLite store where it points and say where; commands that only read (translate,
lookup, versions, `convert --terminology`) never create one: without it they say so
(and the terminology look-ups answer from the JDV seed rows, in memory).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from bridge.cli.problems import fail, note, usage
from bridge.settings import Settings
from bridge.store import Store, open_store

__all__ = ["describe", "missing_store", "open_for_reading", "open_for_writing"]


def describe(settings: Settings) -> str:
    """Where the store is, for a message: an absolute file, or a server without password."""
    path = settings.sqlite_path
    if path is not None:
        if str(path) in ("", ":memory:", "/:memory:"):
            return "an in-memory SQLite store"
        return f"the SQLite file {os.path.abspath(path)}"
    url = urlsplit(settings.database_url)
    user = f"{url.username}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"PostgreSQL {user}{url.hostname or 'localhost'}{port}{url.path}"


def _source(settings: Settings) -> str:
    if "BRIDGE_DATABASE_URL" in os.environ:
        return "BRIDGE_DATABASE_URL"
    return "the default; set BRIDGE_DATABASE_URL to choose another"


def open_for_reading(settings: Settings) -> Store | None:
    """The store, or None when its SQLite file does not exist (nothing is created)."""
    path = settings.sqlite_path
    if path is not None and str(path) not in ("", ":memory:", "/:memory:") and not path.exists():
        return None
    return _open(settings)


def open_for_writing(settings: Settings) -> Store:
    """The store, created (and said so) when its SQLite file does not exist yet."""
    path = settings.sqlite_path
    new = path is not None and str(path) not in ("", ":memory:", "/:memory:") and not path.exists()
    store = _open(settings)
    if new:
        note(f"created a new store: {describe(settings)} ({_source(settings)})", "store", "cyan")
    return store


def missing_store(settings: Settings) -> str:
    return f"no store at {describe(settings)} ({_source(settings)})"


def _open(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        _reach_postgres(settings)
    elif not url.startswith("sqlite://"):
        raise usage(
            f"configuration: BRIDGE_DATABASE_URL={url!r} is neither sqlite:///path nor "
            "postgresql://…"
        )
    path = settings.sqlite_path
    if path is not None and Path(path).is_dir():
        raise fail(f"{describe(settings)} is a directory, not a database file")
    try:
        return open_store(url)
    except Exception as exc:  # sqlite3 or psycopg errors, whatever the engine says
        raise fail(f"cannot open {describe(settings)}: {exc}") from exc


def _reach_postgres(settings: Settings) -> None:
    """Fail at once, with the reason, when the server does not answer (the pool would
    wait 30 s first)."""
    import psycopg

    try:
        with psycopg.connect(settings.database_url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise fail(f"cannot reach {describe(settings)}: {reason}") from exc
