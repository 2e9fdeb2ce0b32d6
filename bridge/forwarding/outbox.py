"""The outbox: what is to be delivered where, written with the data it is about.

The transactional outbox pattern: `enqueue` runs inside the ingestion's transaction
(`Store.after_ingest`), so a report is stored with one row per destination or not at
all; a worker then claims due rows, delivers them and records the outcome.

    pending ──claim──▶ in-flight ──2xx──▶ delivered   (deleted after the retention)
       ▲                  │
       └──back-off────────┤ 5xx, 408, 409, 429, 401/403, no answer, no connection
                          └──▶ dead                   after max attempts, or a 4xx refusal

- Claims: PostgreSQL locks the candidate rows `FOR UPDATE SKIP LOCKED`, so workers and
  replicas on one database never claim the same row; SQLite's writer lock (BEGIN
  IMMEDIATE) makes each claim alone. A claim sets a lease (`next_attempt` of an
  in-flight row) and a token: a crashed worker's rows become due again when the lease
  lapses, and only the token's holder can record an outcome.
- Order per patient and destination: a row is not claimed while an older row of the
  same patient and destination is pending or in flight, so a replacement never
  overtakes the report it replaces. Dead rows do not hold the patient's later reports.
- Times are epoch microseconds of the workers' clocks (keep them in sync, as for any
  lease).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.forwarding.config import Destination
from bridge.mapping import Conversion
from bridge.store import Store
from bridge.store.records import now_micros
from bridge.store.writer import Writer

__all__ = [
    "DEAD",
    "DELIVERED",
    "IN_FLIGHT",
    "PENDING",
    "STATES",
    "Outbox",
    "OutboxRow",
    "StateCount",
    "enqueue",
    "rows_for",
]

PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in-flight", "delivered", "dead"
STATES = (PENDING, IN_FLIGHT, DELIVERED, DEAD)
_OPEN = "('pending', 'in-flight')"  # written alike everywhere: SQLite's partial index needs it
_COLUMNS = (
    "id, destination, patient, document, resources, state, attempts, next_attempt, "
    "last_error, created, updated, claimed_by"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One (document, destination) row: what to PUT ("Type/id" and the version the
    ingestion left), what to DELETE ("Type/id")."""

    id: int
    destination: str
    patient: str
    document: str
    put: tuple[tuple[str, int], ...]
    delete: tuple[str, ...]
    state: str
    attempts: int
    next_attempt: int
    last_error: str | None
    created: int
    updated: int
    claim: str | None = None  # the token of its last claim (who delivered it, once delivered)


@dataclass(frozen=True, slots=True)
class StateCount:
    destination: str
    state: str
    count: int
    oldest: int  # epoch µs: when the oldest row of this state was enqueued


def rows_for(
    destinations: Sequence[Destination],
    conversion: Conversion,
    response: dict[str, Any],
    written: Sequence[tuple[str, str, int, bool]],
) -> list[tuple[str, str, str, bytes]]:
    """(destination, patient, document, resources JSON) of the rows a document makes.

    The Bundle is complete: every resource of the document at the version the
    ingestion left (written, or kept as a more recent document wrote it), what the
    ingestion wrote beside it (the earlier report it superseded), and what it deleted
    (that report's DiagnosticReport and Observations).
    """
    resources = conversion.resources()
    # "Type/id" → version (None: deleted), in the document's order
    actions: dict[str, int | None] = {}
    for entry in response["entry"]:
        reference, _, version = entry["response"]["location"].rpartition("/_history/")
        actions[reference] = int(version)
    for resource_type, resource_id, version, deleted in written:
        actions[f"{resource_type}/{resource_id}"] = None if deleted else version  # the last
    patient = next((f"Patient/{r['id']}" for r in resources if r["resourceType"] == "Patient"), "")
    document = next(
        (
            f"DocumentReference/{r['id']}"
            for r in resources
            if r["resourceType"] == "DocumentReference" and "masterIdentifier" in r
        ),
        conversion.document_id,
    )
    rows = []
    for destination in destinations:
        if not destination.takes_report(resources):
            continue
        kept = {k: d for k, d in actions.items() if destination.takes_type(k.partition("/")[0])}
        if not kept:
            continue
        body = {
            "put": [[k, version] for k, version in kept.items() if version is not None],
            "delete": [k for k, version in kept.items() if version is None],
        }
        rows.append((destination.name, patient, document, json.dumps(body).encode()))
    return rows


def enqueue(
    writer: Writer,
    destinations: Sequence[Destination],
    conversion: Conversion,
    response: dict[str, Any],
    written: Sequence[tuple[str, str, int, bool]],
) -> int:
    """Write the document's rows with `writer`, in the ingestion's transaction."""
    rows = rows_for(destinations, conversion, response, written)
    if rows:
        now = now_micros()
        writer.cursor.executemany(
            "INSERT INTO forward_outbox (destination, patient, document, resources, state, "
            "attempts, next_attempt, created, updated) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            [(*row, now, now, now) for row in rows],
        )
    return len(rows)


class Outbox:
    """The worker's and the operator's statements on the outbox of `store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, destination: str, limit: int, lease: float, token: str) -> list[OutboxRow]:
        """Up to `limit` due rows of `destination`, oldest first, in flight under `token`
        until the lease lapses; never a row behind an open row of the same patient."""
        now = now_micros()
        with self.store.db.read() as cursor:  # most polls find nothing: no write lock then
            cursor.execute(
                f"SELECT 1 FROM forward_outbox WHERE destination = ? AND state IN {_OPEN} "
                "AND next_attempt <= ? LIMIT 1",
                (destination, now),
            )
            if cursor.fetchone() is None:
                return []
        lock = " FOR UPDATE SKIP LOCKED" if self.store.dialect == "postgresql" else ""
        with self.store.db.transaction() as cursor:
            cursor.execute(
                f"SELECT o.id FROM forward_outbox o WHERE o.destination = ? AND o.state IN "
                f"{_OPEN} AND o.next_attempt <= ? AND NOT EXISTS (SELECT 1 FROM "
                "forward_outbox e WHERE e.destination = o.destination AND e.patient = "
                f"o.patient AND e.id < o.id AND e.state IN {_OPEN}) ORDER BY o.id LIMIT ?{lock}",
                (destination, now, limit),
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return []
            cursor.execute(
                "UPDATE forward_outbox SET state = 'in-flight', attempts = attempts + 1, "
                "next_attempt = ?, claimed_by = ?, updated = ? WHERE id IN "
                f"({', '.join('?' for _ in ids)}) RETURNING {_COLUMNS}",
                (now + int(lease * 1e6), token, now, *ids),
            )
            rows = [_row(r, token) for r in cursor.fetchall()]
        return sorted(rows, key=lambda r: r.id)

    def renew(self, row: OutboxRow, lease: float) -> bool:
        """Extend the lease of a row still held; False when the claim was lost."""
        now = now_micros()
        return self._update(
            row, "next_attempt = ?, updated = ?", (now + int(lease * 1e6), now), alive_at=now
        )

    def delivered(self, row: OutboxRow) -> bool:
        return self._update(
            row,
            "state = 'delivered', last_error = NULL, outcome = NULL, updated = ?",
            (now_micros(),),
        )

    def failed(
        self,
        row: OutboxRow,
        error: str,
        outcome: dict[str, Any] | None,
        retry_in: float | None,
        *,
        counted: bool = True,
    ) -> bool:
        """Back to pending for another attempt in `retry_in` seconds, or dead (None).
        Not `counted`: the claim's attempt is given back (the destination was unavailable)."""
        now = now_micros()
        state, due = (DEAD, now) if retry_in is None else (PENDING, now + int(retry_in * 1e6))
        saved = json.dumps(outcome).encode() if outcome is not None else None
        return self._update(
            row,
            "state = ?, next_attempt = ?, last_error = ?, outcome = ?, claimed_by = NULL, "
            f"attempts = attempts - {0 if counted else 1}, updated = ?",
            (state, due, error[:2000], saved, now),
        )

    def _update(
        self, row: OutboxRow, assignments: str, values: tuple[Any, ...], alive_at: int = 0
    ) -> bool:
        with self.store.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE forward_outbox SET {assignments} WHERE id = ? AND claimed_by = ? AND "
                "state = 'in-flight' AND next_attempt > ? RETURNING id",
                (*values, row.id, row.claim, alive_at),
            )
            return bool(cursor.fetchall())

    def later_delivered(self, row: OutboxRow) -> bool:
        """Whether a newer row of the same patient and destination was delivered already
        (a dead row retried late must not bring back what that one deleted)."""
        with self.store.db.read() as cursor:
            cursor.execute(
                "SELECT 1 FROM forward_outbox WHERE destination = ? AND patient = ? AND id > ? "
                "AND state = 'delivered' LIMIT 1",
                (row.destination, row.patient, row.id),
            )
            return cursor.fetchone() is not None

    # Operators ---------------------------------------------------------------------

    def retry(
        self, ids: Sequence[int] = (), *, dead: bool = False, destination: str | None = None
    ) -> int:
        """Make rows due now with their attempts reset: the rows `ids` (any state but in
        flight: a delivered row is sent again), or with `dead` every dead row (of
        `destination`). Returns how many."""
        conditions: list[str] = ["state <> 'in-flight'"]
        values: list[Any] = []
        if ids:
            conditions.append(f"id IN ({', '.join('?' for _ in ids)})")
            values += list(ids)
        if dead:
            conditions.append("state = 'dead'")
        if destination is not None:
            conditions.append("destination = ?")
            values.append(destination)
        if not ids and not dead:
            return 0
        now = now_micros()
        with self.store.db.transaction() as cursor:
            cursor.execute(
                "UPDATE forward_outbox SET state = 'pending', attempts = 0, next_attempt = ?, "
                f"claimed_by = NULL, updated = ? WHERE {' AND '.join(conditions)} RETURNING id",
                (now, now, *values),
            )
            return len(cursor.fetchall())

    def counts(self) -> list[StateCount]:
        """Rows by destination and state, with the enqueue time of the oldest."""
        with self.store.db.read() as cursor:
            cursor.execute(
                "SELECT destination, state, COUNT(*), MIN(created) FROM forward_outbox "
                "GROUP BY destination, state ORDER BY destination, state"
            )
            return [StateCount(d, s, int(n), int(t)) for d, s, n, t in cursor.fetchall()]

    def rows(self, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """Rows (of one state), oldest first."""
        where, values = ("WHERE state = ?", (state,)) if state else ("", ())
        with self.store.db.read() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM forward_outbox {where} ORDER BY id LIMIT ?",
                (*values, limit),
            )
            return [_row(r) for r in cursor.fetchall()]

    def outcome(self, row_id: int) -> dict[str, Any] | None:
        """The OperationOutcome the destination answered at the row's last failure."""
        with self.store.db.read() as cursor:
            cursor.execute("SELECT outcome FROM forward_outbox WHERE id = ?", (row_id,))
            found = cursor.fetchone()
        return json.loads(bytes(found[0])) if found and found[0] is not None else None

    def purge(self, before: int) -> int:
        """Delete the rows delivered before `before` (epoch µs)."""
        with self.store.db.transaction() as cursor:
            cursor.execute(
                "DELETE FROM forward_outbox WHERE state = 'delivered' AND updated < ? RETURNING id",
                (before,),
            )
            return len(cursor.fetchall())


def _row(values: Sequence[Any], claim: str | None = None) -> OutboxRow:
    """A row from the columns of `_COLUMNS`; `claim`: the token that just claimed it."""
    resources = json.loads(bytes(values[4]))
    return OutboxRow(
        id=int(values[0]),
        destination=values[1],
        patient=values[2],
        document=values[3],
        put=tuple((reference, int(version)) for reference, version in resources["put"]),
        delete=tuple(resources["delete"]),
        state=values[5],
        attempts=int(values[6]),
        next_attempt=int(values[7]),
        last_error=values[8],
        created=int(values[9]),
        updated=int(values[10]),
        claim=claim or values[11],
    )
