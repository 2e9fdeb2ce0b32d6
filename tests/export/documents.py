"""Variants of the project's example documents for the bulk tests: new ids, times, names."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.export import flatten_conversion
from bridge.export.ndjson import StagedDocument
from bridge.mapping import convert
from tests.helpers import EXAMPLES

GLUCOSE = "glucose-two-units.xml"  # patient INS 168056938321409, GARNIER
REPLACEMENT = "glucose-replacement.xml"  # replaces GLUCOSE (RPLC), same patient
DOCUMENT_ID = '<id root="1.2.250.1.213.1.1.9.999.1.1"/>'
DOCUMENT_TIME = '<effectiveTime value="20250312101500+0100"/>'
FAMILY = '<family qualifier="BR">GARNIER</family>'


def variant(number: int, *, time: str, family: str = "GARNIER") -> bytes:
    """The glucose example as another document (id `…999.1.1.<number>`) of the same
    patient, written at `time` (CDA TS), the patient's birth name `family`."""
    text = (EXAMPLES / GLUCOSE).read_text(encoding="utf-8")
    for old, new in (
        (DOCUMENT_ID, f'<id root="1.2.250.1.213.1.1.9.999.1.1.{number}"/>'),
        (DOCUMENT_TIME, f'<effectiveTime value="{time}"/>'),
        (FAMILY, f'<family qualifier="BR">{family}</family>'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def staged(source: bytes) -> StagedDocument:
    return StagedDocument.of(flatten_conversion(convert(source), source))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_ndjson(data: bytes) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, id) → resource of every line; fails on a repeated id or a blank line."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for line in data.split(b"\n")[:-1]:
        resource = json.loads(line, parse_float=Decimal)
        key = (resource["resourceType"], resource["id"])
        assert key not in found, f"{key} written twice"
        found[key] = resource
    assert data.endswith(b"\n") or not data
    return found


def read_directory(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.ndjson")):
        resources = read_ndjson(path.read_bytes())
        assert {kind for kind, _ in resources} == {path.name.removesuffix(".ndjson")}
        found.update(resources)
    return found


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []
