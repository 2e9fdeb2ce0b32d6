"""The FHIR store: versioned resources, search, transactions and CDA ingestion.

`Store` is the one object the API and the CLI hold. It opens transactions and hands
the work to the module that owns it:

- `writer.py`       a version with its history and index rows (put, create, delete)
- `transactions.py` transaction and batch Bundles
- `ingestion.py`    converted CR-BIO documents, replacements (RPLC) included
- `querying.py`     searches, paging and _include; `lastn.py` $lastn
- `schema.py`       tables and migrations; `database.py` SQLite and PostgreSQL
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from bridge.mapping import Conversion
from bridge.store import ingestion
from bridge.store.content import unpack
from bridge.store.database import Cursor, Database, Interrupt
from bridge.store.indexing import SEARCH_PARAMETERS, parameters_of
from bridge.store.lastn import run_lastn
from bridge.store.querying import run_search
from bridge.store.records import (
    MAX_VERSION_ID,
    ResourceDeleted,
    ResourceNotFound,
    SearchPage,
    Stored,
    StoreError,
    Written,
    check_id,
    now_micros,
)
from bridge.store.references import ReferencePolicy, check_references
from bridge.store.schema import migrate
from bridge.store.search import Condition, InvalidSearch, Query
from bridge.store.transactions import failure, write_entries
from bridge.store.writer import Writer
from bridge.terminology import store as terminology_sql

__all__ = ["AfterIngest", "Store"]


class AfterIngest(Protocol):
    """A step run inside an ingestion's transaction, once the document changed the store.

    `response` is the ingestion's transaction-response (each entry's version, written
    or kept); `written` lists (type, id, version, deleted) for each version the
    document wrote, its retractions of a replaced report included. What the step writes
    with `writer.cursor` commits with the resources or not at all: the forwarding
    outbox is filled this way (bridge.forwarding, which the store does not import).
    """

    def __call__(
        self,
        writer: Writer,
        conversion: Conversion,
        response: dict[str, Any],
        written: Sequence[tuple[str, str, int, bool]],
    ) -> None: ...


# Every version of one resource: the current one (`resource`) and those it replaced
_VERSIONS = (
    "SELECT version_id, last_updated, content, deleted FROM resource WHERE resource_type = ? "
    "AND id = ? UNION ALL SELECT version_id, last_updated, content, deleted FROM "
    "resource_history WHERE resource_type = ? AND id = ?"
)


class Store:
    """Resources and their history on SQLite or PostgreSQL (see `bridge.store.database`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.schema_version = migrate(db)
        self.after_ingest: AfterIngest | None = None

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.close()

    def set_statement_timeout(self, seconds: float | None) -> None:
        """Bound every statement to `seconds` (None or 0: unbounded); see `database.py`."""
        self.db.set_statement_timeout(seconds)

    def ping(self) -> bool:
        with self.db.read() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone()[0] == 1)

    # Reads -------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Stored:
        check_id(resource_type, resource_id)
        with self.db.read() as cursor:
            cursor.execute(
                "SELECT version_id, last_updated, content, deleted FROM resource "
                "WHERE resource_type = ? AND id = ?",
                (resource_type, resource_id),
            )
            row = cursor.fetchone()
        if row is None:
            raise ResourceNotFound(f"{resource_type}/{resource_id} not found")
        stored = Stored(resource_type, resource_id, row[0], row[1], unpack(row[2]), bool(row[3]))
        if stored.deleted:
            raise ResourceDeleted(f"{resource_type}/{resource_id} was deleted")
        return stored

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> Stored:
        check_id(resource_type, resource_id)
        if not 1 <= version_id <= MAX_VERSION_ID:
            raise ResourceNotFound(f"{resource_type}/{resource_id} has no version {version_id}")
        with self.db.read() as cursor:
            cursor.execute(
                f"SELECT last_updated, content, deleted FROM ({_VERSIONS}) AS v WHERE "
                "version_id = ?",
                (resource_type, resource_id, resource_type, resource_id, version_id),
            )
            row = cursor.fetchone()
        if row is None:
            raise ResourceNotFound(f"{resource_type}/{resource_id}/_history/{version_id} not found")
        if row[2]:
            raise ResourceDeleted(
                f"{resource_type}/{resource_id} version {version_id} is a deletion"
            )
        return Stored(resource_type, resource_id, version_id, row[0], unpack(row[1]))

    def history(self, resource_type: str, resource_id: str) -> list[Stored]:
        """Every version, newest first (deletions included, without content)."""
        check_id(resource_type, resource_id)
        with self.db.read() as cursor:
            cursor.execute(
                f"SELECT version_id, last_updated, content, deleted FROM ({_VERSIONS}) AS v "
                "ORDER BY version_id DESC",
                (resource_type, resource_id, resource_type, resource_id),
            )
            rows = cursor.fetchall()
        if not rows:
            raise ResourceNotFound(f"{resource_type}/{resource_id} not found")
        return [
            Stored(resource_type, resource_id, r[0], r[1], unpack(r[2]), bool(r[3])) for r in rows
        ]

    # Writes ------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """A write transaction; writers go one at a time.

        SQLite's BEGIN IMMEDIATE locks the file up front; on PostgreSQL the writer locks
        the `seq` counter first. What a writer reads before writing then stays true until
        it commits: two writers never both insert a new resource (a unique violation) nor
        wait on each other's rows (a deadlock), and `seq` follows the commit order.
        """
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""  # SQLite: BEGIN IMMEDIATE
        with self.db.transaction() as cursor:
            cursor.execute(f"SELECT value FROM counter WHERE name = 'seq'{lock}")
            writer = Writer(cursor, self.dialect, int(cursor.fetchone()[0]))
            yield writer
            writer.finish()

    def put(
        self,
        resource: dict[str, Any],
        *,
        if_match: str | None = None,
        references: ReferencePolicy | None = None,
    ) -> Written:
        """Write a version; `references`: check the resource's references (None: do not)."""
        with self.writing() as writer:
            written = writer.put(resource, if_match=if_match)
            if references is not None:
                check_references(writer.cursor, [resource], references)
            return written

    def create(
        self,
        resource: dict[str, Any],
        *,
        if_none_exist: str | None = None,
        references: ReferencePolicy | None = None,
    ) -> Written:
        with self.writing() as writer:
            written = writer.create(resource, if_none_exist)
            if references is not None and written.changed:
                check_references(writer.cursor, [resource], references)
            return written

    def delete(self, resource_type: str, resource_id: str) -> None:
        with self.writing() as writer:
            writer.delete(resource_type, resource_id)

    def transaction(
        self, bundle: dict[str, Any], *, references: ReferencePolicy | None = None
    ) -> dict[str, Any]:
        """Process a transaction Bundle all or nothing; returns the transaction-response."""
        with self.writing() as writer:
            responses = write_entries(writer, bundle.get("entry", []), references=references)
        return _response_bundle("transaction-response", responses)

    def batch(
        self, bundle: dict[str, Any], *, references: ReferencePolicy | None = None
    ) -> dict[str, Any]:
        """Process a batch Bundle: each entry on its own; failures are reported per entry."""
        responses = []
        for entry in bundle.get("entry", []):
            try:
                with self.writing() as writer:
                    responses += write_entries(writer, [entry], references=references)
            except (StoreError, InvalidSearch) as exc:
                responses.append(failure(exc))
        return _response_bundle("batch-response", responses)

    def ingest(self, conversion: Conversion) -> tuple[dict[str, Any], bool]:
        """Store a converted document in one transaction; (transaction-response, changed)."""
        return self.ingest_many([conversion])[0]

    def ingest_many(self, conversions: list[Conversion]) -> list[tuple[dict[str, Any], bool]]:
        """Store converted documents in one transaction, in order: all of them or none.

        Bulk loads group documents so that a commit (a sync to disk) is paid per group;
        `$ingest` stores each document in its own transaction.
        """
        with self.writing() as writer:
            return [self._ingest(writer, conversion) for conversion in conversions]

    def _ingest(self, writer: Writer, conversion: Conversion) -> tuple[dict[str, Any], bool]:
        """One document with `writer`, and the `after_ingest` step when it changed anything
        (a transaction of several documents calls this once per document)."""
        start = len(writer.written)
        response, changed = ingestion.ingest(writer, conversion)
        if self.after_ingest is not None and len(writer.written) > start:
            self.after_ingest(writer, conversion, response, writer.written[start:])
        return response, changed

    @contextmanager
    def snapshot(self) -> Iterator[tuple[Cursor, int]]:
        """A read-only view of the store at one instant, and that instant (epoch µs).

        The view is taken while the writers' lock is held (`writing()`), so no write is
        half done: every version it holds committed before the instant, and every write
        after it, which takes the lock once it is released, gets a later `lastUpdated`
        (`now_micros()` read after the lock; hosts sharing a database keep their clocks
        synchronised, as `_since` needs anyway). The instant is never earlier than a
        `lastUpdated` the view holds. Reads through the cursor keep seeing that view,
        whatever commits later: WAL on SQLite, REPEATABLE READ on PostgreSQL.
        """
        with self.db.snapshot() as cursor:  # its connection first: never wait for one locked
            with self.writing():
                cursor.execute("SELECT value FROM counter WHERE name = 'seq'")  # the view
                cursor.fetchone()
                cut = now_micros()
            for resource_type in SEARCH_PARAMETERS:  # one probe of resource_updated each
                cursor.execute(
                    "SELECT MAX(last_updated) FROM resource WHERE resource_type = ?",
                    (resource_type,),
                )
                cut = max(cut, int(cursor.fetchone()[0] or 0))
            yield cursor, cut

    # Search --------------------------------------------------------------------------

    def search(self, query: Query, interrupt: Interrupt | None = None) -> SearchPage:
        """A page of matches; `interrupt` lets another thread stop the search."""
        with self.db.read(interrupt) as cursor:
            return run_search(cursor, query, self.dialect)

    def lastn(self, query: Query, max_per_code: int = 1) -> list[Stored]:
        """FHIR $lastn on Observations: the `max_per_code` most recent of each code the
        query matches, grouped by code (see `bridge.store.lastn`)."""
        with self.db.read() as cursor:
            return run_lastn(cursor, query, max_per_code)

    # Terminology (bridge.terminology.store.TerminologyStore) -------------------------

    def written_conceptmap(self, url: str, version: str | None = None) -> Stored | None:
        # Conditions built directly, not parsed: a canonical url may hold "," or "|"
        parameters = parameters_of("ConceptMap")
        conditions = [Condition(parameters["url"], "url", None, ((..., url),))]
        if version:
            conditions.append(Condition(parameters["version"], "version", None, ((..., version),)))
        query = Query("ConceptMap", conditions, count=1, sort=(("_lastUpdated", True),))
        matches = self.search(query).matches
        return matches[0] if matches else None

    def put_resource(self, resource: dict[str, Any]) -> None:
        with self.db.transaction() as cursor:
            terminology_sql.save_resource(cursor, resource)

    def publish_resource(self, resource: dict[str, Any]) -> None:
        """A new FHIR version only when the content changed (publishing again is free)."""
        if resource.get("id") and resource.get("resourceType") in SEARCH_PARAMETERS:
            self.put(resource)

    def get_resource(
        self, resource_type: str, url: str, version: str | None = None
    ) -> dict[str, Any] | None:
        with self.db.read() as cursor:
            return terminology_sql.find_resource(cursor, resource_type, url, version)

    def versions(self, resource_type: str, url: str) -> list[tuple[str, float]]:
        with self.db.read() as cursor:
            return terminology_sql.list_versions(cursor, resource_type, url)

    def cache_get(self, key: str) -> tuple[dict[str, Any], float] | None:
        with self.db.read() as cursor:
            return terminology_sql.find_cached(cursor, key)

    def cache_put(self, key: str, value: dict[str, Any], expires_at: float) -> None:
        with self.db.transaction() as cursor:
            terminology_sql.save_cached(cursor, key, value, expires_at)


def _response_bundle(kind: str, responses: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction- or batch-response; no `entry` when there is none (FHIR: never empty)."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if responses:
        bundle["entry"] = responses
    return bundle
