"""The writes of one database transaction: each version with its history and index rows.

A `Writer` is bound to the cursor of an open transaction (see `Store.writing`):
everything it writes commits together or not at all. A resource written again with
the same content (meta aside) is left as it is and reported unchanged.

Each version's JSON is written once. `resource` holds the current version of every
resource (a deletion: no content); `resource_history` holds the versions it replaced,
moved there when a new version is written. Rows of new resources and all index rows
wait in the writer and go to the database one statement per table (`bulk.py`) before
anything reads (`Writer.cursor`) and at the commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from types import EllipsisType
from typing import Any
from urllib.parse import parse_qsl

import orjson

from bridge.mapping import dumps
from bridge.store.bulk import insert_rows
from bridge.store.content import pack, unpack
from bridge.store.database import Cursor
from bridge.store.indexing import IndexRows, index_rows, indexed_names, param_code
from bridge.store.querying import run_search
from bridge.store.records import (
    ConflictError,
    PreconditionFailed,
    Stored,
    Written,
    check_id,
    instant,
    now_micros,
)
from bridge.store.search import InvalidSearch, parse_query

__all__ = ["Writer"]

INDEX_TABLES = (
    "idx_token",
    "idx_reference",
    "idx_date",
    "idx_quantity",
    "idx_string",
    "observation_hot",
)
# (version, content JSON, deleted, last_updated, rid) of a stored resource
Current = tuple[int, bytes, bool, int, int]
_PREFETCH = 400  # resources per prefetch statement (two parameters each)


class Writer:
    """Versioned writes inside one transaction (`dialect`: "sqlite" or "postgresql").

    `seq` is the write counter as the transaction found it, with the counter locked
    (`Store.writing`): the writer numbers its writes itself and `finish()` stores
    where it got to, one statement per transaction rather than one per resource (on
    PostgreSQL each `UPDATE … RETURNING` also stopped the pipeline to wait for its answer).
    """

    def __init__(self, cursor: Cursor, dialect: str, seq: int) -> None:
        self._cursor = cursor
        self.dialect = dialect
        self._seq_found = self._seq = seq
        # (type, id, version, deleted) of each version written, in order: what a step
        # run after the writes (the forwarding outbox, see `Store.ingest`) must know
        self.written: list[tuple[str, str, int, bool]] = []
        self._pending: dict[str, list[tuple[Any, ...]]] = {}  # table → rows not yet sent
        self._known: dict[tuple[str, str], Current | None] = {}  # read or written here

    @property
    def cursor(self) -> Cursor:
        """The transaction's cursor, for statements of the caller's own: the rows this
        writer still holds are sent first, so that every read sees every write."""
        self.flush()
        return self._cursor

    def flush(self) -> None:
        """Send the rows held back, one statement per table."""
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            insert_rows(self._cursor, self.dialect, table, rows)

    def finish(self) -> None:
        """Before the commit: the rows held back, and the write counter where it got to."""
        self.flush()
        if self._seq != self._seq_found:
            self._cursor.execute("UPDATE counter SET value = ? WHERE name = 'seq'", (self._seq,))

    def _hold(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self._pending.setdefault(table, []).extend(rows)

    def create(
        self,
        resource: dict[str, Any],
        if_none_exist: str | None,
        new_id: str | None = None,
        *,
        existing: Stored | None | EllipsisType = ...,
    ) -> Written:
        """Create with a server-chosen id (`new_id`: the one a transaction already promised).

        `existing`: what `self.existing` already found for `if_none_exist` (None: nothing),
        so that it is not searched again; `...`: not searched yet.
        """
        if if_none_exist:
            if existing is ...:
                existing = self.existing(resource.get("resourceType", ""), if_none_exist)
            if existing is not None:
                return Written(existing, created=False, changed=False)
        resource_id = new_id or str(uuid.uuid4())
        resource_type = resource.get("resourceType", "")
        # A random UUID is new: nothing to read (a promised one is a uuid4 too)
        self._known.setdefault((resource_type, resource_id), None)
        return self.put({**resource, "id": resource_id})

    def existing(self, resource_type: str, if_none_exist: str) -> Stored | None:
        """The one resource an If-None-Exist query matches (None: create; several: 412)."""
        query = parse_query(
            resource_type, parse_qsl(if_none_exist.lstrip("?"), keep_blank_values=True)
        )
        if query.unknown or not query.conditions:  # ignoring them would match everything
            raise InvalidSearch(
                f"If-None-Exist {if_none_exist}: no condition, or parameters "
                f"not known here ({', '.join(query.unknown) or 'none'})"
            )
        query.count, query.summary_count = 2, False
        found = run_search(self.cursor, query, self.dialect)
        if len(found.matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist {if_none_exist} matches several {resource_type}"
            )
        return found.matches[0] if found.matches else None

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read the current versions of these resources (locked until the commit on
        PostgreSQL) in a statement per few hundred, rather than one each as they are
        written: on PostgreSQL each read stopped the pipeline to wait for its answer."""
        wanted = sorted({key for key in keys if key not in self._known})
        lock = " FOR UPDATE OF r" if self.dialect == "postgresql" else ""
        for start in range(0, len(wanted), _PREFETCH):
            part = wanted[start : start + _PREFETCH]
            values = ", ".join("(?, ?)" for _ in part)
            self.cursor.execute(
                "SELECT r.resource_type, r.id, r.version_id, r.content, r.deleted, "
                f"r.last_updated, r.rid FROM (VALUES {values}) AS w JOIN resource r ON "
                f"r.resource_type = w.column1 AND r.id = w.column2{lock}",
                [part for key in part for part in key],
            )
            found = {(row[0], row[1]): row for row in self._cursor.fetchall()}
            for key in part:
                row = found.get(key)
                self._known[key] = (
                    None
                    if row is None
                    else (int(row[2]), unpack(row[3]), bool(row[4]), int(row[5]), int(row[6]))
                )

    def current(self, resource_type: str, resource_id: str) -> Current | None:
        """(version, content, deleted, last_updated, rid) of the stored resource, locked
        until the commit (the content of a deletion is empty)."""
        key = (resource_type, resource_id)
        if key not in self._known:
            self.prefetch([key])
        return self._known[key]

    def latest(self, resource_type: str, resource_id: str) -> Stored | None:
        """The latest version with content: a deleted resource's last version before it."""
        current = self.current(resource_type, resource_id)
        if current is not None and not current[2]:
            return Stored(resource_type, resource_id, current[0], current[3], current[1])
        self.cursor.execute(
            "SELECT version_id, last_updated, content FROM resource_history WHERE "
            "resource_type = ? AND id = ? AND content IS NOT NULL ORDER BY "
            "version_id DESC LIMIT 1",
            (resource_type, resource_id),
        )
        row = self._cursor.fetchone()
        return Stored(resource_type, resource_id, row[0], row[1], unpack(row[2])) if row else None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def put(self, resource: dict[str, Any], *, if_match: str | None = None) -> Written:
        """Write a new version (the first, or the next), unless the content is unchanged."""
        resource_type, resource_id = resource.get("resourceType"), resource.get("id")
        if not resource_type or not resource_id:
            raise ConflictError("a resource to store needs resourceType and id")
        check_id(resource_type, resource_id)
        current = self.current(resource_type, resource_id)
        if if_match is not None:
            version = if_match.removeprefix("W/").strip('"')
            if current is None or current[2] or str(current[0]) != version:
                raise PreconditionFailed(
                    f"If-Match {if_match}: {resource_type}/{resource_id} is "
                    f"at version {current[0] if current else 'none'}"
                )
        if current is not None and not current[2] and _same_content(current[1], resource):
            return Written(
                Stored(resource_type, resource_id, current[0], current[3], current[1]),
                created=False,
                changed=False,
            )
        version_id = current[0] + 1 if current else 1
        now = now_micros()
        resource = {
            **resource,
            "meta": {
                **resource.get("meta", {}),
                "versionId": str(version_id),
                "lastUpdated": instant(now),
            },
        }
        content = dumps(resource)
        rows = index_rows(resource)
        seq = self._next_seq()
        rid = current[4] if current else seq  # a new resource's number: its first write's
        date_low, date_high = rows.sort_date or (None, None)
        if current is None:
            self._hold(
                "resource",
                [
                    (resource_type, resource_id, version_id, now, seq, False)
                    + (date_low, date_high, pack(content), rid)
                ],
            )
        else:
            self._supersede(resource_type, resource_id)
            self.cursor.execute(
                "UPDATE resource SET version_id = ?, last_updated = ?, seq = ?, deleted = FALSE, "
                "date_low = ?, date_high = ?, content = ? WHERE resource_type = ? AND id = ?",
                (version_id, now, seq, date_low, date_high, pack(content))
                + (resource_type, resource_id),
            )
        self._reindex(resource_type, rid, rows, seq, fresh=current is None)
        self._known[(resource_type, resource_id)] = (version_id, content, False, now, rid)
        self.written.append((resource_type, resource_id, version_id, False))
        stored = Stored(resource_type, resource_id, version_id, now, content)
        return Written(stored, created=current is None or current[2], changed=True)

    def delete(self, resource_type: str, resource_id: str) -> bool:
        """A deletion version: out of reads and searches, its history kept."""
        check_id(resource_type, resource_id)
        current = self.current(resource_type, resource_id)
        if current is None or current[2]:
            return False
        version_id, now = current[0] + 1, now_micros()
        self._supersede(resource_type, resource_id)
        self.cursor.execute(
            "UPDATE resource SET version_id = ?, last_updated = ?, deleted = TRUE, "
            "seq = ?, content = ? WHERE resource_type = ? AND id = ?",
            (version_id, now, self._next_seq(), b"", resource_type, resource_id),
        )
        self._clear_index(current[4])
        self._known[(resource_type, resource_id)] = (version_id, b"", True, now, current[4])
        self.written.append((resource_type, resource_id, version_id, True))
        return True

    def _supersede(self, resource_type: str, resource_id: str) -> None:
        """Move the current version into the history, before a new version replaces it
        (its content is copied by the database, never through Python)."""
        self.cursor.execute(
            "INSERT INTO resource_history (resource_type, id, version_id, last_updated, "
            "deleted, content) SELECT resource_type, id, version_id, last_updated, deleted, "
            "CASE WHEN deleted THEN NULL ELSE content END FROM resource WHERE "
            "resource_type = ? AND id = ?",
            (resource_type, resource_id),
        )

    def _clear_index(self, rid: int) -> None:
        cursor = self.cursor
        for table in INDEX_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))

    def _reindex(
        self, resource_type: str, rid: int, rows: IndexRows, seq: int, *, fresh: bool
    ) -> None:
        """Index rows of the new version, held back until the next flush; `fresh`: the
        resource never existed, so it has none to clear."""
        if not fresh:
            self._clear_index(rid)
        code = _codes(resource_type)
        self._hold("idx_token", [(rid, code[t[0]], *t[1:]) for t in rows.tokens])
        self._hold("idx_reference", [(rid, code[r[0]], *r[1:]) for r in rows.references])
        self._hold("idx_date", [(rid, code[d[0]], *d[1:]) for d in rows.dates])
        self._hold("idx_quantity", [(rid, code[q[0]], *q[1:]) for q in rows.quantities])
        self._hold("idx_string", [(rid, code[x[0]], *x[1:]) for x in rows.strings])
        if resource_type == "Observation":
            patient = next((target for name, target in rows.references if name == "patient"), None)
            low, high = rows.sort_date or (None, None)
            self._hold(
                "observation_hot",
                [
                    (rid, patient, system, code, low, high, seq)
                    for name, system, code in rows.tokens
                    if name == "code"
                ],
            )


@lru_cache(maxsize=64)
def _codes(resource_type: str) -> dict[str, int]:
    """Index row name → its `param_code`, for one resource type."""
    return {name: param_code(resource_type, name) for name in indexed_names(resource_type)}


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")
    }
    out = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        out["meta"] = meta
    return out


def _same_content(stored: bytes, resource: dict[str, Any]) -> bool:
    """Whether a resource says what its stored version says, meta.versionId/lastUpdated aside."""
    old = _without_meta(json.loads(stored, parse_float=Decimal))
    return _sorted_json(old) == _sorted_json(_without_meta(resource))


def _sorted_json(resource: Any) -> bytes:
    from bridge.mapping.convert import _default

    return orjson.dumps(resource, default=_default, option=orjson.OPT_SORT_KEYS)
