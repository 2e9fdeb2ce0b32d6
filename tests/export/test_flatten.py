"""`flatten`: a converted document's resources with `Type/id` references, as a store keeps them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bridge.export import flatten_conversion, precedence
from bridge.mapping import convert
from bridge.store import Store
from tests.export.documents import references
from tests.helpers import corpus_files, example_files


def _flat(path: Path):  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    return flatten_conversion(convert(data), data)


@pytest.mark.parametrize("path", example_files() + corpus_files(), ids=lambda p: p.stem)
def test_every_reference_is_type_id_and_resolves_in_the_document(path: Path) -> None:
    flat = _flat(path)
    keys = {(r.resource_type, r.id) for r in flat.resources}
    assert len(keys) == len(flat.resources)
    for item in flat.resources:
        contained = {f"#{c['id']}" for c in item.resource.get("contained", ())}
        for reference in references(item.resource):
            assert not reference.startswith("urn:"), f"{item.resource_type} → {reference}"
            if reference.startswith("#"):
                assert reference in contained
            else:
                kind, _, resource_id = reference.partition("/")
                assert (kind, resource_id) in keys, f"{item.resource_type} → {reference}"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_each_resource_is_what_the_store_keeps_after_ingesting_the_document(
    store: Store, path: Path
) -> None:
    flat = _flat(path)
    store.ingest(convert(path.read_bytes()))
    for item in flat.resources:
        stored = store.read(item.resource_type, item.id).resource()
        assert without_version(stored) == item.resource


def without_version(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without the meta the store adds (versionId, lastUpdated)."""
    meta = {
        k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")
    }
    out = {k: v for k, v in resource.items() if k != "meta"}
    return {**out, "meta": meta} if meta else out


def test_roles_name_the_report_and_the_document_itself() -> None:
    flat = _flat(next(p for p in example_files() if p.name == "haemogram-battery.xml"))
    roles = {(r.resource_type, r.role) for r in flat.resources}
    report = {kind for kind, role in roles if role == "report"}
    assert report == {"DiagnosticReport", "Observation"}
    assert {kind for kind, role in roles if role == "document"} == {"DocumentReference"}
    assert ("Patient", None) in roles and ("Binary", None) in roles
    [document] = [r.resource for r in flat.resources if r.role == "document"]
    assert "masterIdentifier" in document
    assert flat.identifiers and not flat.replaces


def test_the_report_points_to_its_pdf_copy_by_url() -> None:
    flat = _flat(next(p for p in example_files() if p.name == "glucose-two-units.xml"))
    [report] = [r.resource for r in flat.resources if r.resource_type == "DiagnosticReport"]
    [form] = report["presentedForm"]
    assert "data" not in form and form["url"].startswith("Binary/")
    binaries = {r.id for r in flat.resources if r.resource_type == "Binary"}
    assert form["url"].removeprefix("Binary/") in binaries


def test_a_replacement_names_the_document_it_replaces() -> None:
    by_name = {p.name: _flat(p) for p in example_files()}
    original, replacement = by_name["glucose-two-units.xml"], by_name["glucose-replacement.xml"]
    assert replacement.replaces == original.identifiers


def test_precedence_is_the_document_time_then_id_then_digest() -> None:
    path = next(p for p in example_files() if p.name == "glucose-two-units.xml")
    flat = _flat(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # DocumentReference.date 2025-03-12T10:15:00+01:00
    assert flat.precedence == precedence(1741770900 * 10**6, flat.document_id, digest)
    assert precedence(None, "a", "0") < precedence(0, "a", "0") < precedence(1, "a", "0")
    assert precedence(5, "a", "f") < precedence(5, "b", "0")
