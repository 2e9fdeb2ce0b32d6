"""Where terminology persists: versioned ConceptMap / CodeSystem / ValueSet, and SMT answers.

`TerminologyStore` is the small interface the service needs. `SqliteTerminologyStore`
keeps everything in one SQLite file (stdlib `sqlite3`), so the cache works fully
offline; the FHIR store of `bridge.store` provides the same interface on SQLite or
PostgreSQL for the server. Both run the statements written once here.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "SqliteTerminologyStore",
    "TerminologyStore",
    "WrittenResource",
    "version_order",
]


class WrittenResource(Protocol):
    """A resource as a FHIR client wrote it to the server, in one of its versions."""

    id: str
    version_id: int

    def resource(self) -> dict[str, Any]: ...


class TerminologyStore(Protocol):
    def written_conceptmap(self, url: str, version: str | None = None) -> WrittenResource | None:
        """The newest ConceptMap a FHIR client wrote with this canonical url (and version).

        Read from the FHIR resources themselves, so that a ConceptMap updated or deleted
        through the API answers $translate as it now is, on every server sharing the store.
        """

    def put_resource(self, resource: dict[str, Any]) -> None:
        """Save a ConceptMap, CodeSystem or ValueSet under (type, url, version)."""

    def publish_resource(self, resource: dict[str, Any]) -> None:
        """Make a saved terminology resource (a JDV ConceptMap or CodeSystem version) a FHIR
        resource too, readable and searchable over REST; nothing where there is no FHIR store."""

    def get_resource(
        self, resource_type: str, url: str, version: str | None = None
    ) -> dict[str, Any] | None:
        """One version, or the most recently saved one when `version` is None."""

    def versions(self, resource_type: str, url: str) -> list[tuple[str, float]]:
        """(version, saved at) of each version of a resource, oldest first (`version_order`).

        Also the service's staleness check: a version imported or imported again by
        another process changes this list.
        """

    def cache_get(self, key: str) -> tuple[dict[str, Any], float] | None:
        """A cached SMT answer and the time it expires (it may already have)."""

    def cache_put(self, key: str, value: dict[str, Any], expires_at: float) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS terminology_resource (
    resource_type TEXT NOT NULL,
    url TEXT NOT NULL,
    version TEXT NOT NULL,
    saved_at REAL NOT NULL,
    resource BLOB NOT NULL,
    PRIMARY KEY (resource_type, url, version)
);
CREATE TABLE IF NOT EXISTS terminology_cache (
    key TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    value BLOB NOT NULL
);
"""


def _dumps(value: dict[str, Any]) -> bytes:
    from bridge.mapping import dumps  # decimals exactly as written

    return dumps(value)


def _loads(data: bytes) -> dict[str, Any]:
    return json.loads(data, parse_float=Decimal)  # type: ignore[no-any-return]


class _Cursor(Protocol):
    """What the statements below need: stdlib sqlite3 and bridge.store's cursors alike."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


# The statements of a TerminologyStore, once, for every engine that holds the two tables
# (`?` placeholders; bridge.store's PostgreSQL cursor rewrites them).


def save_resource(cursor: _Cursor, resource: dict[str, Any]) -> None:
    cursor.execute(
        "INSERT INTO terminology_resource VALUES (?, ?, ?, ?, ?) ON CONFLICT "
        "(resource_type, url, version) DO UPDATE SET saved_at = excluded.saved_at, "
        "resource = excluded.resource",
        (
            resource["resourceType"],
            resource["url"],
            resource.get("version") or "",
            time.time(),
            _dumps(resource),
        ),
    )


def find_resource(
    cursor: _Cursor, resource_type: str, url: str, version: str | None
) -> dict[str, Any] | None:
    if version is None:
        cursor.execute(
            "SELECT resource FROM terminology_resource WHERE resource_type = ? AND url = ? "
            "ORDER BY saved_at DESC LIMIT 1",
            (resource_type, url),
        )
    else:
        cursor.execute(
            "SELECT resource FROM terminology_resource WHERE resource_type = ? AND url = ? "
            "AND version = ?",
            (resource_type, url, version),
        )
    row = cursor.fetchone()
    return _loads(bytes(row[0])) if row else None


def version_order(version: str, saved_at: float) -> tuple[int, tuple[int, ...], float]:
    """The sort key of a version: the newest sorts last.

    The declared version decides, read as its sequence of numbers ("2025-09" <
    "2025-10" < "2026-01", "v9" < "v10", "20250915" < "20251201"); versions that
    declare the same numbers, or none, are ordered by import date; the reviewed seed
    is older than any imported version.
    """
    numbers = tuple(int(n) for n in re.findall(r"\d+", version))
    return (0 if version == "seed" else 1, numbers, saved_at)


def list_versions(cursor: _Cursor, resource_type: str, url: str) -> list[tuple[str, float]]:
    cursor.execute(
        "SELECT version, saved_at FROM terminology_resource WHERE resource_type = ? AND url = ?",
        (resource_type, url),
    )
    stamps = [(str(r[0]), float(r[1])) for r in cursor.fetchall()]
    return sorted(stamps, key=lambda stamp: version_order(*stamp))


def find_cached(cursor: _Cursor, key: str) -> tuple[dict[str, Any], float] | None:
    cursor.execute("SELECT value, expires_at FROM terminology_cache WHERE key = ?", (key,))
    row = cursor.fetchone()
    return (_loads(bytes(row[0])), float(row[1])) if row else None


def save_cached(cursor: _Cursor, key: str, value: dict[str, Any], expires_at: float) -> None:
    cursor.execute(
        "INSERT INTO terminology_cache VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
        "expires_at = excluded.expires_at, value = excluded.value",
        (key, expires_at, _dumps(value)),
    )


class SqliteTerminologyStore:
    """The terminology store in a SQLite file (":memory:" for a throwaway one)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def written_conceptmap(self, url: str, version: str | None = None) -> WrittenResource | None:
        return None  # no FHIR resources here: only imported terminology

    def put_resource(self, resource: dict[str, Any]) -> None:
        with self._lock:
            save_resource(self._db.cursor(), resource)

    def publish_resource(self, resource: dict[str, Any]) -> None:
        return None  # no FHIR resources here

    def get_resource(
        self, resource_type: str, url: str, version: str | None = None
    ) -> dict[str, Any] | None:
        with self._lock:
            return find_resource(self._db.cursor(), resource_type, url, version)

    def versions(self, resource_type: str, url: str) -> list[tuple[str, float]]:
        with self._lock:
            return list_versions(self._db.cursor(), resource_type, url)

    def cache_get(self, key: str) -> tuple[dict[str, Any], float] | None:
        with self._lock:
            return find_cached(self._db.cursor(), key)

    def cache_put(self, key: str, value: dict[str, Any], expires_at: float) -> None:
        with self._lock:
            save_cached(self._db.cursor(), key, value, expires_at)

    def close(self) -> None:
        self._db.close()
