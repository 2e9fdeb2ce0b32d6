"""The writes of one database transaction: each version with its history and index rows.

A `Writer` is bound to the cursor of an open transaction (see `Store.writing`):
everything it writes commits together or not at all. A resource written again with
the same content (meta aside) is left as it is and reported unchanged.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from types import EllipsisType
from typing import Any
from urllib.parse import parse_qsl

import orjson

from bridge.mapping import dumps
from bridge.store.database import Cursor
from bridge.store.indexing import IndexRows, index_rows
from bridge.store.querying import run_search
from bridge.store.records import (
    ConflictError,
    PreconditionFailed,
    Stored,
    Written,
    instant,
    now_micros,
)
from bridge.store.search import InvalidSearch, parse_query

__all__ = ["Writer"]


class Writer:
    """Versioned writes inside one transaction (`dialect`: "sqlite" or "postgresql").

    `seq` is the write counter as the transaction found it, with the counter locked
    (`Store.writing`): the writer numbers its writes itself and `save_seq()` stores
    where it got to, one statement per transaction rather than one per resource (on
    PostgreSQL each `UPDATE … RETURNING` also stopped the pipeline to wait for its answer).
    """

    def __init__(self, cursor: Cursor, dialect: str, seq: int) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self._seq_found = self._seq = seq
        # (type, id, version, deleted) of each version written, in order: what a step
        # run after the writes (the forwarding outbox, see `Store.ingest`) must know
        self.written: list[tuple[str, str, int, bool]] = []

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
        return self.put({**resource, "id": new_id or str(uuid.uuid4())})

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

    def current(self, resource_type: str, resource_id: str) -> tuple[int, bytes, bool, int] | None:
        """(version, content, deleted, last_updated) of the stored resource, locked until
        the commit."""
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        self.cursor.execute(
            "SELECT version_id, content, deleted, last_updated FROM resource WHERE "
            f"resource_type = ? AND id = ?{lock}",
            (resource_type, resource_id),
        )
        row = self.cursor.fetchone()
        return (row[0], bytes(row[1]), bool(row[2]), int(row[3])) if row else None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def save_seq(self) -> None:
        """Store the write counter where this transaction's writes left it."""
        if self._seq != self._seq_found:
            self.cursor.execute("UPDATE counter SET value = ? WHERE name = 'seq'", (self._seq,))

    def put(self, resource: dict[str, Any], *, if_match: str | None = None) -> Written:
        """Write a new version (the first, or the next), unless the content is unchanged."""
        resource_type, resource_id = resource.get("resourceType"), resource.get("id")
        if not resource_type or not resource_id:
            raise ConflictError("a resource to store needs resourceType and id")
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
        date_low, date_high = rows.sort_date or (None, None)
        if current is None:
            self.cursor.execute(
                "INSERT INTO resource (resource_type, id, version_id, last_updated, seq, deleted, "
                "date_low, date_high, content) VALUES (?, ?, ?, ?, ?, FALSE, ?, ?, ?)",
                (resource_type, resource_id, version_id, now, seq, date_low, date_high, content),
            )
        else:
            self.cursor.execute(
                "UPDATE resource SET version_id = ?, last_updated = ?, seq = ?, deleted = FALSE, "
                "date_low = ?, date_high = ?, content = ? WHERE resource_type = ? AND id = ?",
                (version_id, now, seq, date_low, date_high, content, resource_type, resource_id),
            )
        self.cursor.execute(
            "INSERT INTO resource_history (resource_type, id, version_id, last_updated, "
            "deleted, content) VALUES (?, ?, ?, ?, FALSE, ?)",
            (resource_type, resource_id, version_id, now, content),
        )
        self._reindex(resource_type, resource_id, rows, seq, fresh=current is None)
        self.written.append((resource_type, resource_id, version_id, False))
        stored = Stored(resource_type, resource_id, version_id, now, content)
        return Written(stored, created=current is None or current[2], changed=True)

    def delete(self, resource_type: str, resource_id: str) -> bool:
        """A deletion version: out of reads and searches, its history kept."""
        current = self.current(resource_type, resource_id)
        if current is None or current[2]:
            return False
        version_id, now = current[0] + 1, now_micros()
        self.cursor.execute(
            "UPDATE resource SET version_id = ?, last_updated = ?, deleted = TRUE, "
            "seq = ? WHERE resource_type = ? AND id = ?",
            (version_id, now, self._next_seq(), resource_type, resource_id),
        )
        self.cursor.execute(
            "INSERT INTO resource_history (resource_type, id, version_id, last_updated, "
            "deleted, content) VALUES (?, ?, ?, ?, TRUE, NULL)",
            (resource_type, resource_id, version_id, now),
        )
        self._clear_index(resource_type, resource_id)
        self.written.append((resource_type, resource_id, version_id, True))
        return True

    def _clear_index(self, resource_type: str, resource_id: str) -> None:
        for table in ("idx_token", "idx_reference", "idx_date", "idx_quantity", "idx_string"):
            self.cursor.execute(
                f"DELETE FROM {table} WHERE resource_type = ? AND id = ?",
                (resource_type, resource_id),
            )
        if resource_type == "Observation":
            self.cursor.execute("DELETE FROM observation_hot WHERE id = ?", (resource_id,))

    def _reindex(
        self, resource_type: str, resource_id: str, rows: IndexRows, seq: int, *, fresh: bool
    ) -> None:
        """Index rows of the new version; `fresh`: the resource never existed, so it has none
        to clear (six statements saved per new resource: most of an ingestion's)."""
        if not fresh:
            self._clear_index(resource_type, resource_id)
        key = (resource_type, resource_id)
        if rows.tokens:
            self.cursor.executemany(
                "INSERT INTO idx_token VALUES (?, ?, ?, ?, ?)", [(*key, *t) for t in rows.tokens]
            )
        if rows.references:
            self.cursor.executemany(
                "INSERT INTO idx_reference VALUES (?, ?, ?, ?)",
                [(*key, *r) for r in rows.references],
            )
        if rows.dates:
            self.cursor.executemany(
                "INSERT INTO idx_date VALUES (?, ?, ?, ?, ?)", [(*key, *d) for d in rows.dates]
            )
        if rows.quantities:
            self.cursor.executemany(
                "INSERT INTO idx_quantity VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*key, *q) for q in rows.quantities],
            )
        if rows.strings:
            self.cursor.executemany(
                "INSERT INTO idx_string VALUES (?, ?, ?, ?)", [(*key, *s) for s in rows.strings]
            )
        if resource_type == "Observation":
            patient = next((target for name, target in rows.references if name == "patient"), None)
            low, high = rows.sort_date or (None, None)
            hot = [
                (resource_id, patient, system, code, low, high, seq)
                for name, system, code in rows.tokens
                if name == "code"
            ]
            if hot:
                self.cursor.executemany(
                    "INSERT INTO observation_hot VALUES (?, ?, ?, ?, ?, ?, ?)", hot
                )


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
