"""Conformance over the public ANS examples (../shared/corpus/cr-bio; skipped when absent).

Counts are taken independently from the CDA with XPath, not from the project's reader.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from bridge.mapping import convert
from tests.helpers import CORPUS, corpus_files, resources_of, roundtrip, validate_bundle

NS = {"h": "urn:hl7-org:v3"}
RESULTS = etree.XPath(
    "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6' or "
    "h:templateId/@root='1.2.250.1.213.1.1.3.80']",
    namespaces=NS,
)
ISOLATES = etree.XPath(
    "//h:organizer[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.5' or "
    "h:templateId/@root='1.2.250.1.213.1.1.3.79']",
    namespaces=NS,
)
BATTERIES = etree.XPath(
    "//h:organizer[(h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.4' or "
    "h:templateId/@root='1.2.250.1.213.1.1.3.78' or @classCode='BATTERY') and "
    "not(h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.5')]",
    namespaces=NS,
)

PDF_COPY_SECTIONS = etree.XPath(
    "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']", namespaces=NS
)

documents = pytest.mark.parametrize(
    "path",
    corpus_files()
    or [
        pytest.param(
            None,
            marks=pytest.mark.skip(reason=f"ANS corpus not found at {CORPUS} (set CRBIO_CORPUS)"),
        )
    ],
    ids=lambda p: p.name if isinstance(p, Path) else "corpus",
)


@documents
def test_every_document_converts_to_a_valid_bundle(path: Path) -> None:
    conversion = convert(path.read_bytes())
    validate_bundle(roundtrip(conversion))
    assert conversion.counts["DiagnosticReport"] == 1
    assert conversion.counts["Patient"] == 1


@documents
def test_observations_match_the_results_counted_in_the_cda(path: Path) -> None:
    tree = etree.parse(str(path))
    results, batteries, isolates = len(RESULTS(tree)), len(BATTERIES(tree)), len(ISOLATES(tree))
    bundle = roundtrip(convert(path.read_bytes()))
    observations = resources_of(bundle, "Observation")
    panels = [o for o in observations if "hasMember" in o]
    assert len(observations) == results + batteries + isolates
    assert len(observations) - len(panels) >= results - 0  # every result is a leaf Observation
    assert len(panels) <= batteries + isolates


@documents
def test_pdf_copies_decode_to_pdf(path: Path) -> None:
    bundle = roundtrip(convert(path.read_bytes()))
    report = resources_of(bundle, "DiagnosticReport")[0]
    for form in report.get("presentedForm", ()):
        assert form["contentType"] == "application/pdf"
        assert base64.b64decode(form["data"]).startswith(b"%PDF")
    for binary in resources_of(bundle, "Binary"):
        if binary["contentType"] == "application/pdf":
            assert base64.b64decode(binary["data"]).startswith(b"%PDF")


def test_pdf_copy_found_in_every_document_that_has_one(corpus: Path) -> None:
    with_copy = [p for p in corpus_files() if PDF_COPY_SECTIONS(etree.parse(str(p)))]
    assert with_copy
    for path in with_copy:
        report = resources_of(roundtrip(convert(path.read_bytes())), "DiagnosticReport")[0]
        assert report["presentedForm"], path.name


@pytest.mark.parametrize(
    ("name", "code", "unit", "other_code", "other_unit"),
    [
        ("BIO-CR-BIO_2021.01_Auto-Presentable.xml", "53049-3", "g/L", "40193-5", "mmol/L"),
        ("BIO-CR-BIO_2021.01_Electrophorese.xml", "40193-5", "mmol/L", "53049-3", "g/L"),
    ],
)
def test_glucose_in_two_units_keeps_both_values_with_their_own_codes(
    corpus: Path, name: str, code: str, unit: str, other_code: str, other_unit: str
) -> None:
    bundle = roundtrip(convert((corpus / name).read_bytes()))
    glucose = [
        o
        for o in resources_of(bundle, "Observation")
        if o["code"].get("coding", [{}])[0].get("code") == code
    ]
    assert len(glucose) == 1
    obs = glucose[0]
    assert obs["valueQuantity"]["code"] == unit
    [second] = obs["component"]
    assert second["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": other_code,
        "display": second["code"]["coding"][0]["display"],
    }
    assert second["valueQuantity"]["code"] == other_unit
    assert second["valueQuantity"]["value"] != obs["valueQuantity"]["value"]


def test_folates_and_glycemia_pairs_share_the_patient(corpus: Path) -> None:
    patients = set()
    for name in (
        "BIO-CR-BIO_2024.01_Glycemie_mmol_par_Litre_1.xml",
        "BIO-CR-BIO_2024.01_Glycemie_g_par_Litre_2.xml",
    ):
        bundle = roundtrip(convert((corpus / name).read_bytes()))
        patients.add(resources_of(bundle, "Patient")[0]["id"])
    assert len(patients) == 1
