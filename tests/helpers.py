"""Helpers for the tests: where the corpus and the examples are, and the FHIR checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    """Every resource parses with the fhir.resources R4B models; every reference resolves.

    fhir.resources has no 4.0.1 package; the resource types produced here are the same
    in R4 and R4B (see README, "R4 and R4B").
    """
    from fhir.resources.R4B import get_fhir_model_class

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
