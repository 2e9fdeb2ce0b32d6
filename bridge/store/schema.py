"""The schema, one for both engines, and its versioned migrations.

Resources are stored as their JSON (with meta.versionId and meta.lastUpdated,
zstd-compressed: see content.py): the current version in `resource`, the versions it
replaced in `resource_history`, so that each version's JSON is stored once (a
deletion's current row has no content). Search runs on index tables filled from the
current version of each resource, each row keyed by the resource's number `rid` and
(except observation_hot) by `param`, the `param_code` of its type and parameter name:

- `idx_token`      (param, system, code): code, combo-code, category, status, identifier…
- `idx_reference`  (param, target): patient, subject, result…
- `idx_date`       (param, low, high): dates as half-open ranges of epoch microseconds,
                    so "2024-11" is the whole month and a Period is its span
- `idx_quantity`   (param, system, code, value, canonical code and value): value-quantity
                    compares g/L with g/dL through canonical UCUM units
- `idx_string`     (param, value): names, normalised (and as written, for :exact)
- `observation_hot` typed columns (patient, code, date) with one composite index: the
                    hot path Observation?patient=…&code=…&date=…&_sort=-date

Times are epoch microseconds (UTC) in BIGINT columns on both engines; `seq` is a
monotonic write counter used to page stably and to order by insertion.
"""

from __future__ import annotations

from bridge.store.database import Database
from bridge.store.indexing import SEARCH_PARAMETERS, indexed_names, param_code

__all__ = ["MIGRATIONS", "migrate"]

BLOB = {"sqlite": "BLOB", "postgresql": "BYTEA"}
REAL = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"}
SERIAL = {  # a primary key numbered by the database, in insertion order
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


def _keyed_by_rid(table: str, columns: str, definitions: str, *indexes: str) -> list[str]:
    """Statements that rebuild an index table keyed by `resource.rid` and, unless it is
    observation_hot, by the `param_code` of (resource_type, param), its rows kept;
    `indexes` are made again, with one on `rid`."""
    selected = ", ".join(f"t.{c.strip()}" for c in columns.split(","))
    if table == "observation_hot":
        source = f"{table}_old t JOIN resource r ON r.resource_type = 'Observation' AND r.id = t.id"
        fill = f"INSERT INTO {table} (rid, {columns}) SELECT r.rid, {selected} FROM {source}"
    else:
        codes = ", ".join(
            f"('{kind}', '{name}', {param_code(kind, name)})"
            for kind in SEARCH_PARAMETERS
            for name in indexed_names(kind)
        )
        fill = (
            f"WITH p (resource_type, name, code) AS (VALUES {codes}) INSERT INTO {table} "
            f"(rid, param, {columns}) SELECT r.rid, p.code, {selected} FROM {table}_old t "
            "JOIN p ON p.resource_type = t.resource_type AND p.name = t.param "
            "JOIN resource r ON r.resource_type = t.resource_type AND r.id = t.id"
        )
    return [
        f"ALTER TABLE {table} RENAME TO {table}_old",
        f"CREATE TABLE {table} (rid BIGINT NOT NULL, {definitions})",
        fill,
        f"DROP TABLE {table}_old",
        *indexes,
        f"CREATE INDEX {table}_rid ON {table} (rid)",
    ]


# Each migration: (version, description, statements with {blob} / {real} / {serial})
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "resources, history and search indexes",
        [
            """CREATE TABLE resource (
            resource_type TEXT NOT NULL,
            id TEXT NOT NULL,
            version_id INTEGER NOT NULL,
            last_updated BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            deleted BOOLEAN NOT NULL DEFAULT FALSE,
            date_low BIGINT,
            date_high BIGINT,
            content {blob} NOT NULL,
            PRIMARY KEY (resource_type, id))""",
            "CREATE INDEX resource_seq ON resource (resource_type, seq)",
            "CREATE INDEX resource_date ON resource (resource_type, date_low)",
            "CREATE INDEX resource_updated ON resource (resource_type, last_updated)",
            """CREATE TABLE resource_history (
            resource_type TEXT NOT NULL,
            id TEXT NOT NULL,
            version_id INTEGER NOT NULL,
            last_updated BIGINT NOT NULL,
            deleted BOOLEAN NOT NULL DEFAULT FALSE,
            content {blob},
            PRIMARY KEY (resource_type, id, version_id))""",
            """CREATE TABLE idx_token (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
            system TEXT, code TEXT NOT NULL)""",
            "CREATE INDEX idx_token_code ON idx_token (resource_type, param, code, system)",
            "CREATE INDEX idx_token_id ON idx_token (resource_type, id)",
            """CREATE TABLE idx_reference (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
            target TEXT NOT NULL)""",
            "CREATE INDEX idx_reference_target ON idx_reference (resource_type, param, target)",
            "CREATE INDEX idx_reference_id ON idx_reference (resource_type, id)",
            """CREATE TABLE idx_date (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
            low BIGINT NOT NULL, high BIGINT NOT NULL)""",
            "CREATE INDEX idx_date_range ON idx_date (resource_type, param, low, high)",
            "CREATE INDEX idx_date_id ON idx_date (resource_type, id)",
            """CREATE TABLE idx_quantity (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
            system TEXT, code TEXT, value {real} NOT NULL,
            canonical_code TEXT, canonical_value {real})""",
            "CREATE INDEX idx_quantity_canonical ON idx_quantity "
            "(resource_type, param, canonical_code, canonical_value)",
            "CREATE INDEX idx_quantity_id ON idx_quantity (resource_type, id)",
            """CREATE TABLE idx_string (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
            value TEXT NOT NULL)""",
            "CREATE INDEX idx_string_value ON idx_string (resource_type, param, value)",
            "CREATE INDEX idx_string_id ON idx_string (resource_type, id)",
            """CREATE TABLE observation_hot (
            id TEXT NOT NULL, patient TEXT, system TEXT, code TEXT NOT NULL,
            date_low BIGINT, date_high BIGINT, seq BIGINT NOT NULL)""",
            "CREATE INDEX observation_hot_path ON observation_hot (patient, code, date_low, seq)",
            "CREATE INDEX observation_hot_id ON observation_hot (id)",
            "CREATE TABLE counter (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO counter (name, value) VALUES ('seq', 0)",
        ],
    ),
    # The tables of bridge.terminology.SqliteTerminologyStore, column for column: a file
    # it wrote keeps its JDV versions and cached SMT answers when the server opens it.
    (
        2,
        "terminology: JDV versions and SMT answers",
        [
            """CREATE TABLE IF NOT EXISTS terminology_resource (
            resource_type TEXT NOT NULL, url TEXT NOT NULL, version TEXT NOT NULL,
            saved_at {real} NOT NULL, resource {blob} NOT NULL,
            PRIMARY KEY (resource_type, url, version))""",
            """CREATE TABLE IF NOT EXISTS terminology_cache (
            key TEXT PRIMARY KEY, expires_at {real} NOT NULL, value {blob} NOT NULL)""",
        ],
    ),
    # Resources that several documents share (the Patient, the laboratory, the
    # biologist…) keep the content of the most recent document, whatever the order of
    # arrival: each remembers the time of the document that last wrote it.
    (
        3,
        "ingestion: the document time behind each ingested resource",
        [
            """CREATE TABLE ingested_from (
            resource_type TEXT NOT NULL, id TEXT NOT NULL, document_time BIGINT NOT NULL,
            PRIMARY KEY (resource_type, id))""",
        ],
    ),
    # Bulk Data exports (bridge.export): the job, its files and their NDJSON in chunks of
    # about 1 MiB, so that any replica answers the polls and serves the downloads, a
    # restart loses no finished export, and no file is ever held whole in memory.
    (
        4,
        "bulk export: jobs, their files and the chunks of each file",
        [
            """CREATE TABLE export_job (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            request TEXT NOT NULL,
            parameters {blob} NOT NULL,
            client TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            owner TEXT,
            heartbeat BIGINT,
            attempts INTEGER NOT NULL DEFAULT 0,
            transaction_time BIGINT,
            done BIGINT NOT NULL DEFAULT 0,
            total BIGINT,
            outcome {blob},
            finished_at BIGINT,
            expires_at BIGINT,
            accessed_at BIGINT)""",
            "CREATE INDEX export_job_status ON export_job (status, heartbeat)",
            "CREATE INDEX export_job_client ON export_job (client, status)",
            """CREATE TABLE export_file (
            job_id TEXT NOT NULL,
            file_no INTEGER NOT NULL,
            section TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            count BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            chunks INTEGER NOT NULL,
            PRIMARY KEY (job_id, file_no))""",
            """CREATE TABLE export_chunk (
            job_id TEXT NOT NULL,
            file_no INTEGER NOT NULL,
            chunk_no INTEGER NOT NULL,
            data {blob} NOT NULL,
            PRIMARY KEY (job_id, file_no, chunk_no))""",
        ],
    ),
    # bridge.forwarding: one row per (ingested document, destination), written in the
    # ingestion's own transaction. `resources` lists what to PUT and DELETE downstream;
    # `patient` keeps each patient's rows in order; for an in-flight row `next_attempt`
    # is when its claim lapses (a crashed worker's rows come back then).
    (
        5,
        "forwarding: the outbox of documents to deliver downstream",
        [
            """CREATE TABLE forward_outbox (
            id {serial},
            destination TEXT NOT NULL,
            patient TEXT NOT NULL,
            document TEXT NOT NULL,
            resources {blob} NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt BIGINT NOT NULL,
            claimed_by TEXT,
            last_error TEXT,
            outcome {blob},
            created BIGINT NOT NULL,
            updated BIGINT NOT NULL)""",
            "CREATE INDEX forward_outbox_state ON forward_outbox (state, destination, created)",
            "CREATE INDEX forward_outbox_patient ON forward_outbox (destination, patient, id)",
            "CREATE INDEX forward_outbox_due ON forward_outbox (destination, next_attempt) "
            "WHERE state IN ('pending', 'in-flight')",
        ],
    ),
    # Each version's JSON once (the history held the current version too, and a deleted
    # resource's row its last content: the store twice over), and index rows keyed by
    # numbers: (resource_type, id, param), ~70 bytes of text, was repeated in every index
    # row and again in its indexes. New resources take increasing numbers, so their
    # index rows go to the end of the rid indexes instead of pages all over them.
    (
        6,
        "each version stored once; index rows keyed by resource number",
        [
            """DELETE FROM resource_history WHERE EXISTS (SELECT 1 FROM resource r WHERE
            r.resource_type = resource_history.resource_type AND r.id = resource_history.id
            AND r.version_id = resource_history.version_id)""",
            "UPDATE resource SET content = substr(content, 1, 0) WHERE deleted",
            "ALTER TABLE resource ADD COLUMN rid BIGINT",
            "UPDATE resource SET rid = seq",  # unique: each resource's latest write
            "CREATE UNIQUE INDEX resource_rid ON resource (rid)",
            *_keyed_by_rid(
                "idx_token",
                "system, code",
                "param INTEGER NOT NULL, system TEXT, code TEXT NOT NULL",
                "CREATE INDEX idx_token_code ON idx_token (param, code, system)",
            ),
            *_keyed_by_rid(
                "idx_reference",
                "target",
                "param INTEGER NOT NULL, target TEXT NOT NULL",
                "CREATE INDEX idx_reference_target ON idx_reference (param, target)",
            ),
            *_keyed_by_rid(
                "idx_date",
                "low, high",
                "param INTEGER NOT NULL, low BIGINT NOT NULL, high BIGINT NOT NULL",
                "CREATE INDEX idx_date_range ON idx_date (param, low, high)",
            ),
            *_keyed_by_rid(
                "idx_quantity",
                "system, code, value, canonical_code, canonical_value",
                "param INTEGER NOT NULL, system TEXT, code TEXT, value {real} NOT NULL, "
                "canonical_code TEXT, canonical_value {real}",
                "CREATE INDEX idx_quantity_canonical ON idx_quantity "
                "(param, canonical_code, canonical_value)",
            ),
            *_keyed_by_rid(
                "idx_string",
                "value",
                "param INTEGER NOT NULL, value TEXT NOT NULL",
                "CREATE INDEX idx_string_value ON idx_string (param, value)",
            ),
            *_keyed_by_rid(
                "observation_hot",
                "patient, system, code, date_low, date_high, seq",
                "patient TEXT, system TEXT, code TEXT NOT NULL, date_low BIGINT, "
                "date_high BIGINT, seq BIGINT NOT NULL",
                "CREATE INDEX observation_hot_path ON observation_hot "
                "(patient, code, date_low, seq)",
            ),
        ],
    ),
]


def migrate(db: Database) -> int:
    """Bring the schema to the latest version; returns it. Safe to run at every start."""
    with db.transaction(pipeline=False) as cursor:
        if db.dialect == "postgresql":
            # One migrating process at a time per schema, from the very first statement:
            # replicas starting together on an empty schema would otherwise both create
            # schema_version (PostgreSQL's IF NOT EXISTS is not atomic: one fails on
            # pg_type's unique index). Held until the migration commits.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext('crbio-bridge migrate ' || "
                "COALESCE(current_schema(), '')))"
            )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
            "description TEXT NOT NULL)"
        )
        cursor.execute("SELECT MAX(version) FROM schema_version")
        current = cursor.fetchone()[0] or 0
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                cursor.execute(
                    statement.format(
                        blob=BLOB[db.dialect], real=REAL[db.dialect], serial=SERIAL[db.dialect]
                    )
                )
            cursor.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                (version, description),
            )
            current = version
    return current
