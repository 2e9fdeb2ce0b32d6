"""The report: DiagnosticReport, Patient (INS), DocumentReference + Binary, Provenance, RPLC."""

from __future__ import annotations

import base64
import hashlib

from bridge.mapping import convert
from tests.builders import convert_document, document, result
from tests.helpers import EXAMPLES, by_reference, convert_example, resources_of, roundtrip


def test_report_basics() -> None:
    bundle = roundtrip(convert_document(result()))
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["status"] == "final"
    assert report["code"]["coding"][0]["code"] == "11502-2"
    assert report["code"]["text"] == "Compte rendu d'examens biologiques"
    assert [c["coding"][0]["code"] for c in report["category"]] == ["LAB", "18719-5"]
    assert report["identifier"][0] == {
        "system": "urn:ietf:rfc:3986",
        "value": "urn:oid:1.2.250.1.213.1.1.9.999.1",
    }
    assert report["issued"] == "2025-03-12T10:15:00+01:00"
    interpreter = by_reference(bundle, report["resultsInterpreter"][0])
    assert interpreter["resourceType"] == "PractitionerRole"


def test_partial_report() -> None:
    [report] = resources_of(
        roundtrip(convert_document(result(), report_status="active")), "DiagnosticReport"
    )
    assert report["status"] == "partial"


def test_patient_is_identified_by_ins_across_documents() -> None:
    first = roundtrip(convert_document(result(), doc_root="1.2.3.1"))
    second = roundtrip(convert_document(result(), doc_root="1.2.3.2"))
    other = roundtrip(convert_document(result(), doc_root="1.2.3.3", ins="180017512345678"))
    [p1], [p2], [p3] = (resources_of(b, "Patient") for b in (first, second, other))
    assert p1["id"] == p2["id"] != p3["id"]
    assert p1["identifier"][0]["system"] == "urn:oid:1.2.250.1.213.1.4.10"
    assert p1["identifier"][0]["type"]["coding"][0]["code"] == "INS-NIR-TEST"
    assert p1["name"][0] == {"use": "official", "family": "TESTARD", "given": ["ANNE", "MARIE"]}
    obs1, obs2 = (resources_of(b, "Observation")[0] for b in (first, second))
    assert obs1["id"] != obs2["id"]  # results are scoped to their document


def test_source_document_is_kept_byte_for_byte() -> None:
    data = document(result())
    bundle = roundtrip(convert(data))
    [doc_ref] = resources_of(bundle, "DocumentReference")
    cda = doc_ref["content"][0]
    assert cda["format"]["code"] == "urn:ihe:lab:xd-lab:2008"
    binary_id = cda["attachment"]["url"].removeprefix("Binary/")
    [binary] = [b for b in resources_of(bundle, "Binary") if b["id"] == binary_id]
    assert base64.b64decode(binary["data"]) == data
    assert cda["attachment"]["size"] == len(data)
    assert base64.b64decode(cda["attachment"]["hash"]) == hashlib.sha1(data).digest()
    assert doc_ref["context"]["related"] == [
        {"reference": f"urn:uuid:{resources_of(bundle, 'DiagnosticReport')[0]['id']}"}
    ]


def test_pdf_copy_is_presented_form_and_document_content() -> None:
    _, bundle = convert_example("glucose-two-units.xml")
    [report] = resources_of(bundle, "DiagnosticReport")
    [form] = report["presentedForm"]
    assert form["contentType"] == "application/pdf" and form["title"]
    assert base64.b64decode(form["data"]).startswith(b"%PDF")
    [doc_ref] = resources_of(bundle, "DocumentReference")
    pdf = doc_ref["content"][1]["attachment"]
    assert pdf["contentType"] == "application/pdf" and "data" not in pdf
    assert pdf["size"] == form["size"] == len(base64.b64decode(form["data"]))


def test_n1_document_has_a_presented_form_and_no_results() -> None:
    conversion, bundle = convert_example("n1-pdf-only.xml")
    assert not conversion.kind.structured
    [report] = resources_of(bundle, "DiagnosticReport")
    assert "result" not in report
    assert base64.b64decode(report["presentedForm"][0]["data"]).startswith(b"%PDF")
    [doc_ref] = resources_of(bundle, "DocumentReference")
    assert doc_ref["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"


def test_trod_report() -> None:
    conversion, bundle = convert_example("trod-covid.xml")
    assert conversion.kind.family == "BIO-TROD"
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["code"]["coding"][0]["code"] == "96173-0"
    [obs] = resources_of(bundle, "Observation")
    assert by_reference(bundle, obs["device"])["resourceType"] == "Device"


def test_replacement_names_the_replaced_document() -> None:
    replaced = roundtrip(convert((EXAMPLES / "glucose-two-units.xml").read_bytes()))
    _, bundle = convert_example("glucose-replacement.xml")
    [old_report] = resources_of(replaced, "DiagnosticReport")
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["status"] == "amended"
    [replaces] = [e for e in report["extension"] if e["url"].endswith("replaces-report")]
    assert replaces["valueReference"]["identifier"] == old_report["identifier"][0]
    [doc_ref] = resources_of(bundle, "DocumentReference")
    assert doc_ref["relatesTo"][0]["code"] == "replaces"
    [provenance] = resources_of(bundle, "Provenance")
    assert {e["role"] for e in provenance["entity"]} == {"source", "revision"}


def test_provenance_targets_every_resource_and_is_reproducible() -> None:
    data = document(result())
    first, second = convert(data), convert(data)
    bundle = roundtrip(first)
    [provenance] = resources_of(bundle, "Provenance")
    targets = {t["reference"] for t in provenance["target"]}
    produced = {
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] not in ("Provenance", "Device")
    }
    assert produced <= targets
    assert provenance["recorded"] == "2025-03-12T10:15:00+01:00"
    assert first.bundle == second.bundle


def test_report_level_comment_sections_become_notes() -> None:
    comment_section = (
        '<component><section><templateId root="1.2.250.1.213.1.1.2.73"/>'
        '<code code="55112-7" codeSystem="2.16.840.1.113883.6.1"/>'
        "<title>Non conformité</title><text>Tube hémolysé</text></section>"
        "</component>"
    )
    bundle = roundtrip(convert(document(result(), extra_sections=comment_section)))
    [report] = resources_of(bundle, "DiagnosticReport")
    [note] = [e for e in report["extension"] if e["url"].endswith("DiagnosticReport.note")]
    assert note["valueAnnotation"] == {"text": "Non conformité: Tube hémolysé"}
