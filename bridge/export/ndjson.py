"""NDJSON of many documents with constant memory: each resource id once, as kept.

Documents come one at a time (`add`); their lines are appended to one staging file
per resource type, and each line is indexed in the manifest's SQLite file (type, id,
document, offset, length, role). Nothing of a document stays in memory once added.
`publish` then asks SQLite, for every id, which line is kept under the rules of
`bridge.export.precedence` (a window function over the index, sorted on disk), and
copies those lines, in the order they were staged, to the output: one `<Type>.ndjson`
per resource type in a directory, or every type in one stream.

Memory stays flat whatever the number of documents; disk holds the staged lines
(about the size of the output) until the run is published.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from bridge.export.flatten import FlatDocument
from bridge.export.manifest import Manifest
from bridge.export.precedence import Role, kept_form, rewritten
from bridge.mapping import dumps

__all__ = ["NdjsonWriter", "Published", "StagedDocument", "kept_line"]

OutputFor = Callable[[str], BinaryIO]  # resource type → where its lines go

_SCHEMA = """
CREATE TABLE IF NOT EXISTS line (
    document INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    role TEXT,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS staged (
    document INTEGER PRIMARY KEY,
    precedence TEXT NOT NULL        -- bridge.export.precedence of the document
);
CREATE TABLE IF NOT EXISTS identifier (
    document INTEGER NOT NULL,
    identifier TEXT NOT NULL,
    replaces INTEGER NOT NULL       -- 0: the document's own id, 1: an id it replaces
);
"""
# The documents replaced by another recorded document (RPLC), then one row per
# resource id: the kept line (bridge.export.precedence: current documents first, then
# the greatest precedence; the report of a replaced document is never a candidate).
_REPLACED = """
CREATE TEMP TABLE replaced AS SELECT DISTINCT own.document FROM identifier own
JOIN identifier other ON other.identifier = own.identifier AND other.replaces = 1
AND other.document <> own.document WHERE own.replaces = 0
"""
_CANDIDATES = """
FROM line l JOIN staged d ON d.document = l.document
LEFT JOIN temp.replaced r ON r.document = l.document
WHERE NOT (r.document IS NOT NULL AND l.role IS 'report')
"""
_KEPT = f"""
SELECT resource_type, offset, length, role, replaced FROM (
    SELECT l.resource_type, l.offset, l.length, l.role, r.document IS NOT NULL AS replaced,
    row_number() OVER (
        PARTITION BY l.resource_type, l.id
        ORDER BY r.document IS NOT NULL, d.precedence DESC, l.document DESC
    ) AS k {_CANDIDATES}
) WHERE k = 1 ORDER BY resource_type, offset
"""


@dataclass(frozen=True, slots=True)
class StagedDocument:
    """A flattened document with its resources serialised (made in the worker process)."""

    precedence: str
    identifiers: tuple[str, ...]
    replaces: tuple[str, ...]
    lines: tuple[tuple[str, str, Role, bytes], ...]  # (type, id, role, JSON)

    @classmethod
    def of(cls, flat: FlatDocument) -> StagedDocument:
        return cls(
            flat.precedence,
            flat.identifiers,
            flat.replaces,
            tuple((r.resource_type, r.id, r.role, dumps(r.resource)) for r in flat.resources),
        )


@dataclass(slots=True)
class Published:
    """What `publish` wrote."""

    resources: Counter[str] = field(default_factory=Counter)  # lines written, by type
    duplicates: int = 0  # versions of an id left for the kept one (shared resources…)
    left_out: int = 0  # report resources of replaced documents
    replaced: int = 0  # documents replaced by another one of the run


class NdjsonWriter:
    """Stages documents' resources in the manifest's work directory; publishes each id once."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        manifest.add_tables(_SCHEMA, ["line", "identifier", "staged"])

    def add(self, document: int, staged: StagedDocument) -> None:
        """Stage a document recorded in the manifest under number `document`."""
        rows = []
        for resource_type, resource_id, role, line in staged.lines:
            data = line + b"\n"
            offset = self.manifest.append(_stream(resource_type), data)
            rows.append((document, resource_type, resource_id, role, offset, len(data)))
        db = self.manifest.db
        db.execute("INSERT INTO staged VALUES (?, ?)", (document, staged.precedence))
        db.executemany("INSERT INTO line VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.executemany(
            "INSERT INTO identifier VALUES (?, ?, ?)",
            [(document, key, 0) for key in staged.identifiers]
            + [(document, key, 1) for key in staged.replaces],
        )

    def publish_directory(self, directory: Path) -> Published:
        """`<Type>.ndjson` in `directory`, each written whole then renamed into place."""
        directory.mkdir(parents=True, exist_ok=True)
        handles: dict[str, BinaryIO] = {}
        try:
            published = self._publish(
                lambda kind: (
                    handles.get(kind)
                    or handles.setdefault(kind, (directory / f"{kind}.ndjson.part").open("wb"))
                )
            )
        finally:
            for handle in handles.values():
                handle.close()
        for kind in handles:
            os.replace(directory / f"{kind}.ndjson.part", directory / f"{kind}.ndjson")
        return published

    def publish_stream(self, out: BinaryIO) -> Published:
        """Every type in one stream (a file or standard output), type after type."""
        return self._publish(lambda kind: out)

    def _publish(self, output: OutputFor) -> Published:
        self.manifest.commit()
        db = self.manifest.db
        db.execute("DROP TABLE IF EXISTS temp.replaced")
        db.execute(_REPLACED)
        published = Published(
            replaced=db.execute("SELECT count(*) FROM temp.replaced").fetchone()[0]
        )
        total = db.execute("SELECT count(*) FROM line").fetchone()[0]
        candidates = db.execute(f"SELECT count(*) {_CANDIDATES}").fetchone()[0]
        for kind, line in self._kept_lines():
            output(kind).write(line)
            published.resources[kind] += 1
        published.left_out = total - candidates
        published.duplicates = candidates - sum(published.resources.values())
        return published

    def _kept_lines(self) -> Iterator[tuple[str, bytes]]:
        source: BinaryIO | None = None
        current = None
        try:
            for kind, offset, length, role, replaced in self.manifest.db.execute(_KEPT):
                if kind != current:
                    if source is not None:
                        source.close()
                    source, current = self.manifest.open_stream(_stream(kind)), kind
                assert source is not None
                if source.tell() != offset:
                    source.seek(offset)
                yield kind, kept_line(source.read(length), bool(replaced), role)
        finally:
            if source is not None:
                source.close()


def kept_line(line: bytes, replaced: bool, role: Role) -> bytes:
    """A resource's line (with or without its newline) as kept (`kept_form`): parsed
    and written again only when that changes it."""
    if not rewritten(replaced, role):
        return line
    end = b"\n" if line.endswith(b"\n") else b""
    return dumps(kept_form(json.loads(line, parse_float=Decimal), replaced, role)) + end


def _stream(resource_type: str) -> str:
    return f"{resource_type}.ndjson"
