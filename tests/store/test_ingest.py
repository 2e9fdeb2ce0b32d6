"""Ingestion of converted CR-BIO documents: whole, idempotent, and aware of replacements (RPLC)."""

from __future__ import annotations

import base64
import re
from collections import Counter
from typing import Any

import pytest

from bridge.mapping import Conversion, convert
from bridge.store import ResourceDeleted, Store, parse_query
from bridge.store.writer import Writer
from tests.builders import document, result
from tests.helpers import EXAMPLES, example_files
from tests.store.resources import row_counts, search_ids

ORIGINAL = "glucose-two-units.xml"  # version 1
REPLACEMENT = "glucose-replacement.xml"  # version 2, relatedDocument RPLC → version 1


def _convert(name: str) -> Conversion:
    return convert((EXAMPLES / name).read_bytes())


def _resources(conversion: Conversion, resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in conversion.bundle["entry"]
        if e["resource"]["resourceType"] == resource_type
    ]


def _one(conversion: Conversion, resource_type: str) -> dict[str, Any]:
    (found,) = _resources(conversion, resource_type)
    return found


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_every_example_is_stored_whole(store: Store, path: Any) -> None:
    conversion = convert(path.read_bytes())
    response, changed = store.ingest(conversion)
    assert changed
    assert response["type"] == "transaction-response"
    entries = conversion.bundle["entry"]
    assert len(response["entry"]) == len(entries)
    assert all(e["response"]["status"] == "201 Created" for e in response["entry"])
    for entry in entries:
        resource = entry["resource"]
        stored = store.read(resource["resourceType"], resource["id"]).resource()
        assert stored["meta"]["versionId"] == "1"
    expected = Counter(e["resource"]["resourceType"] for e in entries)
    counts = row_counts(store)
    assert {t: counts.get(t, 0) for t in expected} == dict(expected)
    # References were rewritten from urn:uuid to Type/id
    for entry in entries:
        resource = entry["resource"]
        content = store.read(resource["resourceType"], resource["id"]).content
        assert b'"reference":"urn:uuid:' not in content
    # and a second time changes nothing
    _, changed = store.ingest(convert(path.read_bytes()))
    assert not changed
    assert row_counts(store) == counts


def test_the_pdf_copy_is_a_binary_the_report_points_to(store: Store) -> None:
    conversion = _convert(ORIGINAL)
    inline = _one(conversion, "DiagnosticReport")["presentedForm"][0]
    store.ingest(conversion)
    report = store.read("DiagnosticReport", _one(conversion, "DiagnosticReport")["id"]).resource()
    (form,) = report["presentedForm"]
    assert "data" not in form
    assert form["contentType"] == "application/pdf"
    assert re.fullmatch(r"Binary/[0-9a-f-]{36}", form["url"])
    binary = store.read("Binary", form["url"].split("/")[1]).resource()
    assert binary["contentType"] == "application/pdf"
    assert binary["data"] == inline["data"]
    assert base64.b64decode(binary["data"]).startswith(b"%PDF")
    assert form["size"] == inline["size"]


def test_a_second_ingestion_changes_nothing(store: Store) -> None:
    store.ingest(_convert("haemogram-battery.xml"))
    counts = row_counts(store)
    response, changed = store.ingest(_convert("haemogram-battery.xml"))
    assert not changed
    assert all(e["response"]["status"] == "200 OK" for e in response["entry"])
    assert row_counts(store) == counts


def _assert_replaced(store: Store) -> None:
    """Only version 2 is current; version 1 is superseded, its results deleted, history kept."""
    old, new = _convert(ORIGINAL), _convert(REPLACEMENT)
    old_report, new_report = _one(old, "DiagnosticReport"), _one(new, "DiagnosticReport")
    patient = f"Patient/{_one(new, 'Patient')['id']}"
    assert search_ids(store, "DiagnosticReport", ("patient", patient)) == {new_report["id"]}
    assert search_ids(store, "Observation", ("patient", patient)) == {
        o["id"] for o in _resources(new, "Observation")
    }
    assert search_ids(store, "Observation", ("patient", patient), ("code", "40193-5")) == {
        o["id"]
        for o in _resources(new, "Observation")
        if o["code"]["coding"][0]["code"] == "40193-5"
    }
    for resource in [old_report, *_resources(old, "Observation")]:
        with pytest.raises(ResourceDeleted):
            store.read(resource["resourceType"], resource["id"])
        history = store.history(resource["resourceType"], resource["id"])
        assert history[0].deleted
        assert history[-1].resource()["id"] == resource["id"]
    assert store.read("DiagnosticReport", new_report["id"]).resource()["status"] == "amended"
    documents = {
        d.id: d.resource()["status"]
        for d in store.search(parse_query("DocumentReference", [("patient", patient)])).matches
    }
    assert documents == {
        _one(old, "DocumentReference")["id"]: "superseded",
        _one(new, "DocumentReference")["id"]: "current",
    }
    assert search_ids(store, "DocumentReference", ("status", "current")) == {
        _one(new, "DocumentReference")["id"]
    }


@pytest.mark.parametrize(
    "order",
    [(ORIGINAL, REPLACEMENT), (REPLACEMENT, ORIGINAL)],
    ids=["in-order", "replacement-first"],
)
def test_a_replacement_takes_the_earlier_report_out(store: Store, order: tuple[str, str]) -> None:
    for name in order:
        _, changed = store.ingest(_convert(name))
        assert changed
    _assert_replaced(store)


@pytest.mark.parametrize(
    "order",
    [(ORIGINAL, REPLACEMENT), (REPLACEMENT, ORIGINAL)],
    ids=["in-order", "replacement-first"],
)
def test_documents_stored_in_one_transaction_end_as_one_by_one(
    store: Store, order: tuple[str, str]
) -> None:
    """A bulk load's group gives what the documents give one at a time, replacement
    included, and a second pass changes nothing."""
    results = store.ingest_many([_convert(name) for name in order])
    assert [changed for _, changed in results] == [True, True]
    _assert_replaced(store)
    counts = row_counts(store)
    assert not any(changed for _, changed in store.ingest_many([_convert(n) for n in order]))
    assert row_counts(store) == counts


def test_a_group_that_fails_stores_none_of_its_documents(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = row_counts(store)
    real_put = Writer.put

    def failing_put(self: Writer, resource: dict[str, Any], **kwargs: Any) -> Any:
        if resource["resourceType"] == "Provenance" and "revision" in str(resource):
            raise RuntimeError("disk on fire")  # in the second document of the group
        return real_put(self, resource, **kwargs)

    monkeypatch.setattr(Writer, "put", failing_put)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.ingest_many([_convert(ORIGINAL), _convert(REPLACEMENT)])
    assert row_counts(store) == before


@pytest.mark.parametrize(
    "order",
    [(ORIGINAL, REPLACEMENT), (REPLACEMENT, ORIGINAL)],
    ids=["in-order", "replacement-first"],
)
def test_replaced_documents_ingested_again_change_nothing(
    store: Store, order: tuple[str, str]
) -> None:
    for name in order:
        store.ingest(_convert(name))
    counts = row_counts(store)
    for name in (ORIGINAL, REPLACEMENT, ORIGINAL):
        _, changed = store.ingest(_convert(name))
        assert not changed, name
        assert row_counts(store) == counts, name
    _assert_replaced(store)


@pytest.mark.parametrize(
    "order",
    [(ORIGINAL, REPLACEMENT), (REPLACEMENT, ORIGINAL)],
    ids=["in-order", "replacement-first"],
)
def test_shared_resources_keep_the_newer_document(store: Store, order: tuple[str, str]) -> None:
    """The request both versions name is stored as the replacement has it, whatever the order."""
    for name in order:
        store.ingest(_convert(name))
    newer = _one(_convert(REPLACEMENT), "ServiceRequest")
    assert newer["id"] == _one(_convert(ORIGINAL), "ServiceRequest")["id"]
    stored = store.read("ServiceRequest", newer["id"]).resource()
    assert stored["encounter"] == {
        "reference": f"Encounter/{_one(_convert(REPLACEMENT), 'Encounter')['id']}"
    }


# Documents built here: version 1 and its replacement, edited as a lab would


def _version_1(root: str, *, set_id: str | None = None) -> bytes:
    xml = document(result(), doc_root=root)
    return xml.replace(
        f'<setId root="{root}.0"/>'.encode(), f'<setId root="{set_id or root + ".0"}"/>'.encode()
    )


def _next_version(earlier: bytes, earlier_root: str, root: str, type_code: str = "RPLC") -> bytes:
    """The document that follows `earlier`: a new id, same setId, versionNumber + 1, and a
    relatedDocument naming the earlier one."""
    set_id = re.search(rb'<setId root="([^"]+)"/>', earlier).group(1).decode()  # type: ignore[union-attr]
    related = (
        f'<relatedDocument typeCode="{type_code}"><parentDocument>'
        f'<id root="{earlier_root}"/><setId root="{set_id}"/>'
        '<versionNumber value="1"/></parentDocument></relatedDocument>'
    )
    xml = earlier.replace(
        f'<id root="{earlier_root}"/>'.encode(), f'<id root="{root}"/>'.encode(), 1
    )
    xml = xml.replace(b'<versionNumber value="1"/>', b'<versionNumber value="2"/>', 1)
    xml = xml.replace(b'value="5.30" unit="mmol/L"', b'value="5.90" unit="mmol/L"')
    return xml.replace(b"</documentationOf>", b"</documentationOf>" + related.encode(), 1)


def _current_documents(store: Store) -> dict[str, str]:
    page = store.search(parse_query("DocumentReference", []))
    return {d.resource()["masterIdentifier"]["value"]: d.resource()["status"] for d in page.matches}


@pytest.mark.parametrize("first_is_setid", [False, True], ids=["own-setid", "id-is-setid"])
@pytest.mark.parametrize("replacement_first", [False, True], ids=["in-order", "reversed"])
def test_a_built_replacement(store: Store, first_is_setid: bool, replacement_first: bool) -> None:
    """Version 1 whose id may also be the setId (common in CDA): only version 1 is retracted."""
    v1_root, v2_root = "1.2.250.1.213.1.1.9.777.1", "1.2.250.1.213.1.1.9.777.2"
    v1 = _version_1(v1_root, set_id=v1_root if first_is_setid else None)
    v2 = _next_version(v1, v1_root, v2_root)
    first, second = (v2, v1) if replacement_first else (v1, v2)
    store.ingest(convert(first))
    store.ingest(convert(second))
    assert _current_documents(store) == {
        f"urn:oid:{v1_root}": "superseded",
        f"urn:oid:{v2_root}": "current",
    }
    (value,) = [
        o.resource()["valueQuantity"]["value"]
        for o in store.search(parse_query("Observation", [("code", "40193-5")])).matches
    ]
    assert str(value) == "5.90"
    assert len(search_ids(store, "DiagnosticReport")) == 1


@pytest.mark.parametrize("appendix_first", [False, True], ids=["in-order", "reversed"])
def test_an_appendix_does_not_replace(store: Store, appendix_first: bool) -> None:
    """APND adds to a document; both stay current, in either arrival order."""
    v1_root, appendix_root = "1.2.250.1.213.1.1.9.778.1", "1.2.250.1.213.1.1.9.778.2"
    v1 = _version_1(v1_root)
    appendix = _next_version(v1, v1_root, appendix_root, type_code="APND")
    for xml in (appendix, v1) if appendix_first else (v1, appendix):
        store.ingest(convert(xml))
    assert _current_documents(store) == {
        f"urn:oid:{v1_root}": "current",
        f"urn:oid:{appendix_root}": "current",
    }
    assert len(search_ids(store, "DiagnosticReport")) == 2
    assert len(search_ids(store, "Observation", ("code", "40193-5"))) == 2


@pytest.mark.parametrize("fail_at", [1, 7, 15])
def test_a_failing_ingestion_leaves_nothing_half_written(
    store: Store, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    store.ingest(_convert(ORIGINAL))
    before = row_counts(store)
    calls = 0
    real_put = Writer.put

    def failing_put(self: Writer, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == fail_at:
            raise RuntimeError("disk on fire")
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(Writer, "put", failing_put)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.ingest(_convert(REPLACEMENT))
    assert calls == fail_at
    assert row_counts(store) == before
    monkeypatch.undo()
    old_report = _one(_convert(ORIGINAL), "DiagnosticReport")["id"]
    assert store.read("DiagnosticReport", old_report).version_id == 1
    store.ingest(_convert(REPLACEMENT))  # and the store still works afterwards
    _assert_replaced(store)


def test_ingested_results_are_searchable(store: Store) -> None:
    conversion = _convert("haemogram-battery.xml")
    store.ingest(conversion)
    patient = _one(conversion, "Patient")
    observations = _resources(conversion, "Observation")
    assert search_ids(store, "Observation", ("patient", patient["id"])) == {
        o["id"] for o in observations
    }
    identifier = patient["identifier"][0]
    assert search_ids(
        store, "Patient", ("identifier", f"{identifier['system']}|{identifier['value']}")
    ) == {patient["id"]}
    report = _one(conversion, "DiagnosticReport")
    first_result = report["result"][0]["reference"].removeprefix("urn:uuid:")
    assert search_ids(store, "DiagnosticReport", ("result", f"Observation/{first_result}")) == {
        report["id"]
    }


def _report_of(day: str, doc_root: str, family: str) -> bytes:
    """A report of the same patient written on `day`, her used family name `family`."""
    xml = document(result(), doc_root=doc_root)
    xml = xml.replace(
        b'<effectiveTime value="20250312101500+0100"/>',
        f'<effectiveTime value="{day}101500+0100"/>'.encode(),
    )
    return xml.replace(
        b'<family qualifier="CL">DUPRE</family>',
        f'<family qualifier="CL">{family}</family>'.encode(),
    )


@pytest.mark.parametrize("newer_first", [False, True], ids=["in-order", "older-arrives-late"])
def test_a_late_older_report_does_not_bring_back_old_patient_details(
    store: Store, newer_first: bool
) -> None:
    """Patient, laboratory and biologist are shared by every report of the patient: they
    keep what the most recent report says, whatever the order of arrival."""
    older = convert(_report_of("20240110", "1.2.250.1.213.1.1.9.999.7", "DUPRE"))
    newer = convert(_report_of("20250312", "1.2.250.1.213.1.1.9.999.8", "MARTIN"))
    for conversion in [newer, older] if newer_first else [older, newer]:
        store.ingest(conversion)
    patient_id = _one(newer, "Patient")["id"]
    assert patient_id == _one(older, "Patient")["id"]
    patient = store.read("Patient", patient_id).resource()
    used = [n for n in patient["name"] if n.get("use") == "usual"]
    assert [n["family"] for n in used] == ["MARTIN"]
    assert patient["meta"]["versionId"] == ("1" if newer_first else "2")
    # both reports and their results are stored all the same
    assert len(search_ids(store, "DiagnosticReport", ("patient", patient_id))) == 2


def test_identifiers_without_a_system_are_found(store: Store) -> None:
    """Two identifiers without a system are the same one (t.system IS NULL, not = NULL)."""
    from bridge.store import ingestion

    master = {"value": "doc-without-system"}
    with store.writing() as writer:
        writer.put({"resourceType": "DocumentReference", "id": "old", "masterIdentifier": master})
        replaces = {"code": "replaces", "target": {"identifier": master}}
        writer.put({"resourceType": "DocumentReference", "id": "new", "relatesTo": [replaces]})
        assert ingestion._replaced_by_stored(writer, master)
        ingestion._retract(writer, master)
    assert store.read("DocumentReference", "old").resource()["status"] == "superseded"


def test_every_corpus_document_is_stored_and_searchable(store: Store, corpus: Any) -> None:
    """The ANS examples, stored one after the other on each engine: nothing refused (the
    three electrophoresis reports' `{ratio}` once made the quantity index fail), and each
    patient's results found again by search."""
    from tests.helpers import corpus_files

    patients: Counter[str] = Counter()
    for path in corpus_files():
        conversion = convert(path.read_bytes())
        store.ingest(conversion)
        patient = _one(conversion, "Patient")["id"]
        patients[patient] += len(_resources(conversion, "Observation"))
    assert patients
    for patient, converted in patients.items():
        found = search_ids(store, "Observation", ("patient", f"Patient/{patient}"))
        assert 0 < len(found) <= converted  # a replaced report's results leave the store
