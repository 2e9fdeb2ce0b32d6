"""The project's own example documents and the Bundles committed beside them.

`make examples` regenerates fhir_examples/*.json; this test fails when the
converter's output differs from what is committed, so every change of output is
reviewed as a diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.mapping import convert, dumps
from tests.helpers import example_files, roundtrip, validate_bundle

examples = pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)


def test_there_are_enough_examples() -> None:
    assert len(example_files()) >= 8


@examples
def test_committed_bundle_is_what_the_converter_produces(path: Path) -> None:
    committed = path.with_suffix(".json")
    assert committed.is_file(), f"run `make examples` to create {committed.name}"
    produced = dumps(convert(path.read_bytes()).bundle, indent=True) + b"\n"
    assert produced == committed.read_bytes(), f"{committed.name} is stale: run `make examples`"


@examples
def test_example_bundle_is_valid_fhir(path: Path) -> None:
    validate_bundle(roundtrip(convert(path.read_bytes())))


@examples
def test_conversion_is_deterministic(path: Path) -> None:
    data = path.read_bytes()
    assert dumps(convert(data).bundle) == dumps(convert(data).bundle)
