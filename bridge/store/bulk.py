"""Many rows into one table in one statement, on either engine.

A stored document is a few hundred rows: its resources and their index rows. Sent one
statement per row, PostgreSQL spent most of an ingestion parsing, binding and
executing ~450 statements; here each table gets one `INSERT … SELECT FROM unnest(…)`
whose parameters are one array per column, sent in binary. SQLite runs in the process, where a
prepared statement run by `executemany` (a loop in C) is already the cheapest way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.store.database import Cursor

__all__ = ["COLUMNS", "insert_rows"]

# The tables written in bulk: (column, PostgreSQL array type) in the order of their rows
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "resource": (
        ("resource_type", "text[]"),
        ("id", "text[]"),
        ("version_id", "integer[]"),
        ("last_updated", "bigint[]"),
        ("seq", "bigint[]"),
        ("deleted", "boolean[]"),
        ("date_low", "bigint[]"),
        ("date_high", "bigint[]"),
        ("content", "bytea[]"),
        ("rid", "bigint[]"),
    ),
    "idx_token": (
        ("rid", "bigint[]"),
        ("param", "integer[]"),
        ("system", "text[]"),
        ("code", "text[]"),
    ),
    "idx_reference": (
        ("rid", "bigint[]"),
        ("param", "integer[]"),
        ("target", "text[]"),
    ),
    "idx_date": (
        ("rid", "bigint[]"),
        ("param", "integer[]"),
        ("low", "bigint[]"),
        ("high", "bigint[]"),
    ),
    "idx_quantity": (
        ("rid", "bigint[]"),
        ("param", "integer[]"),
        ("system", "text[]"),
        ("code", "text[]"),
        ("value", "float8[]"),
        ("canonical_code", "text[]"),
        ("canonical_value", "float8[]"),
    ),
    "idx_string": (
        ("rid", "bigint[]"),
        ("param", "integer[]"),
        ("value", "text[]"),
    ),
    "observation_hot": (
        ("rid", "bigint[]"),
        ("patient", "text[]"),
        ("system", "text[]"),
        ("code", "text[]"),
        ("date_low", "bigint[]"),
        ("date_high", "bigint[]"),
        ("seq", "bigint[]"),
    ),
    "ingested_from": (
        ("resource_type", "text[]"),
        ("id", "text[]"),
        ("document_time", "bigint[]"),
    ),
}


def insert_rows(
    cursor: Cursor,
    dialect: str,
    table: str,
    rows: Sequence[Sequence[Any]],
    on_conflict: str = "",
) -> None:
    """Insert `rows` (tuples in the order of `COLUMNS[table]`); `on_conflict`: an
    `ON CONFLICT …` clause, for upserts (the rows must not repeat a key)."""
    if not rows:
        return
    columns = COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    if dialect == "postgresql":  # arrays sent in binary: bytea[] as text was 5x slower
        arrays = ", ".join(f"%b::{kind}" for _, kind in columns)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {on_conflict}",
            [list(column) for column in zip(*rows, strict=True)],
        )
    else:
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows)
