"""Helpers for the tests: where the corpus and the examples are, and the FHIR checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bridge.cda.reading.xml import BLANK
from bridge.mapping import Conversion, convert, dumps

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "fhir_examples"
CORPUS = Path(os.environ.get("CRBIO_CORPUS", ROOT.parent / "shared" / "corpus" / "cr-bio"))


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.xml"))


def roundtrip(conversion: Conversion) -> dict[str, Any]:
    """The Bundle as a client receives it: serialised, then parsed (decimals as Decimal)."""
    import json
    from decimal import Decimal

    return json.loads(dumps(conversion.bundle), parse_float=Decimal)


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Every resource parses with the fhir.resources R4B models; every reference resolves;
    no value is empty or blank.

    fhir.resources has no 4.0.1 package; the resource types produced here are the same
    in R4 and R4B (see README, "R4 and R4B").
    """
    from fhir.resources.R4B import get_fhir_model_class

    blank = empty_values(bundle)
    assert not blank, f"empty or blank values (FHIR forbids them): {blank[:10]}"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"]), "duplicate fullUrl in the Bundle"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        contained = {f"#{c['id']}" for c in resource.get("contained", ())}
        for ref in _references(resource):
            if ref.startswith("#"):
                assert ref in contained, f"{resource['resourceType']} → {ref} not contained"
            else:
                assert ref in full_urls, f"{resource['resourceType']} → {ref} not in the Bundle"
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }


# Blank strings as producers write them: spaces, no-break spaces, zero-width spaces, BOM
BLANK_SAMPLES = (
    "",
    " ",
    "   ",
    "\t\n",
    "\u00a0",
    "\u2007",
    "\u202f",
    "\u200b",
    "\ufeff",
    " \u00a0\u200b ",
)


def empty_values(node: Any, path: str = "Bundle") -> list[str]:
    r"""Where a FHIR resource holds what FHIR forbids: an empty string, array or object, or a
    string made only of blank characters (whitespace, no-break and zero-width spaces, BOM).

    Walked without recursion: a fuzzed document may nest deep.

    >>> empty_values({"a": [{"b": "\u00a0"}, {}], "c": []})
    ['Bundle.c: []', 'Bundle.a[1]: {}', "Bundle.a[0].b: '\\xa0'"]
    """
    found = []
    stack = [(path, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not value.strip(BLANK):
                found.append(f"{where}: {value!r}")
        elif isinstance(value, dict):
            if not value:
                found.append(f"{where}: {{}}")
            stack.extend((f"{where}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            if not value:
                found.append(f"{where}: []")
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return found


def _references(node: Any):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def resources_of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def by_reference(bundle: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    for entry in bundle["entry"]:
        if entry["fullUrl"] == ref["reference"]:
            return entry["resource"]
    raise KeyError(ref["reference"])


def convert_example(name: str) -> tuple[Conversion, dict[str, Any]]:
    conversion = convert((EXAMPLES / name).read_bytes())
    return conversion, roundtrip(conversion)


def renumbered(xml: bytes, copy: int, patient: int) -> bytes:
    """A copy of a CR-BIO document as another document of another patient.

    The document ids (its id, setId, and those of a document it replaces) get the
    suffix `C<copy>`, so that copies of a replacing document replace the same copy of
    the replaced one; the patient's ids end with `patient` (7 digits). Everything
    derived from them (Observations, the report, the specimens…) is then new; the
    laboratory and its biologists stay shared, as in a real archive.
    """
    from lxml import etree

    v3 = {"v3": "urn:hl7-org:v3"}
    root = etree.fromstring(xml, etree.XMLParser(huge_tree=True))
    document = next(root.iter("{urn:hl7-org:v3}ClinicalDocument"))  # auto-presentable: nested
    for path in (
        "v3:id",
        "v3:setId",
        "v3:relatedDocument/v3:parentDocument/v3:id",
        "v3:relatedDocument/v3:parentDocument/v3:setId",
    ):
        for element in document.xpath(path, namespaces=v3):
            element.set("extension", f"{element.get('extension') or ''}C{copy}")
    for element in document.xpath("v3:recordTarget/v3:patientRole/v3:id", namespaces=v3):
        extension = element.get("extension") or ""
        element.set("extension", f"{extension[:-7] if len(extension) > 7 else ''}{patient:07d}")
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


def document_identifiers() -> set[str]:
    """What identifies the patients and documents of the tests: INS and other patient
    identifiers, names, patient ids and document ids of fhir_examples and of
    tests/builders.py. None of them may ever reach a log line."""
    import json

    # tests/builders.py's patient and document, and tests/api/test_rest.py's patient
    found = {"280029912345678", "IPP-77", "TESTARD", "DUPRE", "ANNE MARIE"}
    found |= {"1.2.250.1.213.1.1.9.999.1", "255081416802538", "Lefèvre"}
    for path in EXAMPLES.glob("*.json"):
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "Patient":
                found.add(resource["id"])
                found |= {i["value"] for i in resource.get("identifier", ()) if "value" in i}
                for name in resource.get("name", ()):
                    found |= {name.get("family", ""), *name.get("given", ())}
            elif kind in ("DocumentReference", "DiagnosticReport"):
                identifiers = [
                    resource.get("masterIdentifier", {}),
                    *resource.get("identifier", ()),
                ]
                found |= {i["value"] for i in identifiers if "value" in i}
    return {value for value in found if len(value) >= 4}
