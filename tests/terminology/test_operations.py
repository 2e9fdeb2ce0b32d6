"""$translate with R4 and R5 names, $lookup, through the service (no network: the JDV answers)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bridge.terminology import CONCEPTMAP_URL, SqliteTerminologyStore, TerminologyService
from bridge.terminology.operations import (
    InvalidRequest,
    from_parameters,
    parse_lookup,
    parse_translate,
)

LOINC = "http://loinc.org"


@pytest.fixture
def service() -> TerminologyService:
    return TerminologyService(SqliteTerminologyStore())


def translate(service: TerminologyService, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return asyncio.run(service.translate(parse_translate(pairs))).parameters


def matches(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            p["name"]: next(v for k, v in p.items() if k.startswith("value") or k == "part")
            for p in m["part"]
            if p["name"] != "property"
        }
        | {"property": [p for p in m["part"] if p["name"] == "property"]}
        for m in parameters["parameter"]
        if m["name"] == "match"
    ]


def test_r4_translate_from_query_parameters(service: TerminologyService) -> None:
    answer = translate(service, [("system", LOINC), ("code", "40193-5")])
    assert answer["parameter"][0] == {"name": "result", "valueBoolean": True}
    [match] = matches(answer)
    assert match["equivalence"] == "relatedto"
    assert match["concept"]["code"] == "53049-3"
    assert match["source"] == f"{CONCEPTMAP_URL}|seed"
    # R4 has no property part: the JDV factor and level come as R5-style parts all the same
    properties = {
        p["part"][0]["valueUri"].rsplit("/", 1)[1]: p["part"][1] for p in match["property"]
    }
    assert properties["factor"] == {"name": "value", "valueDecimal": Decimal("0.18")}
    assert properties["comparability"] == {"name": "value", "valueCode": "1"}


def test_r4_reverse_returns_the_sources(service: TerminologyService) -> None:
    answer = translate(service, [("system", LOINC), ("code", "53049-3"), ("reverse", "true")])
    assert [m["concept"]["code"] for m in matches(answer)] == ["40193-5"]


def test_coding_and_codeable_concept_in_a_posted_parameters(service: TerminologyService) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": CONCEPTMAP_URL},
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": LOINC, "code": "14647-2"},
                        {"system": LOINC, "code": "40193-5"},
                    ]
                },
            },
        ],
    }
    answer = asyncio.run(service.translate(parse_translate(from_parameters(body)))).parameters
    assert [m["concept"]["code"] for m in matches(answer)] == ["2093-3", "53049-3"]


def test_r5_names_get_r5_matches_with_factor_and_comparability(service: TerminologyService) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "sourceCoding", "valueCoding": {"system": LOINC, "code": "53049-3"}}
        ],
    }
    answer = asyncio.run(service.translate(parse_translate(from_parameters(body)))).parameters
    [match] = [m for m in answer["parameter"] if m["name"] == "match"]
    parts = {p["name"]: p for p in match["part"] if p["name"] != "property"}
    assert parts["relationship"]["valueCode"] == "related-to"
    assert parts["originMap"]["valueCanonical"] == f"{CONCEPTMAP_URL}|seed"
    properties = {
        p["part"][0]["valueUri"].rsplit("/", 1)[-1]: next(
            v for k, v in p["part"][1].items() if k.startswith("value")
        )
        for p in match["part"]
        if p["name"] == "property"
    }
    assert properties["factor"] == Decimal("5.551")
    assert properties["comparability"] == "1"
    assert (properties["source-unit"], properties["target-unit"]) == ("g/L", "mmol/L")


def test_r5_target_code_is_a_reverse_lookup(service: TerminologyService) -> None:
    answer = translate(service, [("system", LOINC), ("targetCode", "2093-3")])
    [match] = [m for m in answer["parameter"] if m["name"] == "match"]
    assert {p["name"] for p in match["part"]} >= {"relationship", "concept", "originMap"}
    assert (
        next(p for p in match["part"] if p["name"] == "concept")["valueCoding"]["code"] == "14647-2"
    )


def test_a_jdv_analysis_without_correspondence_answers_false(service: TerminologyService) -> None:
    answer = translate(service, [("system", LOINC), ("code", "718-7")])
    assert answer["parameter"][0] == {"name": "result", "valueBoolean": False}
    assert answer["parameter"][1]["name"] == "message"


def test_concept_map_version_is_honoured(service: TerminologyService) -> None:
    from bridge.errors import ConceptMapNotFound

    with pytest.raises(ConceptMapNotFound):
        translate(
            service,
            [
                ("url", CONCEPTMAP_URL),
                ("conceptMapVersion", "1999"),
                ("system", LOINC),
                ("code", "40193-5"),
            ],
        )


def _nested(depth: int) -> dict[str, Any]:
    """A CodeableConcept whose coding holds CodeableConcepts, `depth` levels deep."""
    concept: dict[str, Any] = {"system": LOINC, "code": "40193-5"}
    for _ in range(depth):
        concept = {"coding": [concept]}
    return concept


UNUSABLE = {
    "nothing": [],
    "no-system": [("code", "40193-5")],
    "no-code": [("system", LOINC)],
    "empty-system": [("system", ""), ("code", "40193-5")],
    "nul-in-code": [("system", LOINC), ("code", "40193-5\x00")],
    "nul-in-system": [("system", LOINC + "\x00"), ("code", "40193-5")],
    "coding-without-code": [("coding", f"{LOINC}|")],
    "coding-a-string": [("codeableConcept", {"coding": f"{LOINC}|40193-5"})],
    "coding-an-object": [("codeableConcept", {"coding": {f"{LOINC}|40193-5": 1}})],
    # Found by a review: read by recursion, 100,000 levels were a RecursionError
    "concepts-in-concepts": [("codeableConcept", _nested(100_000))],
}


@pytest.mark.parametrize("pairs", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_unusable_requests_are_refused(pairs: list[tuple[str, Any]]) -> None:
    with pytest.raises(InvalidRequest):
        parse_translate(pairs)


@pytest.mark.parametrize(
    "pairs",
    [[("system", LOINC), ("code", "a\x00")], [("system", LOINC), ("code", "")], [("coding", 7)]],
)
def test_unusable_lookups_are_refused(pairs: list[tuple[str, Any]]) -> None:
    with pytest.raises(InvalidRequest):
        parse_lookup(pairs)


def test_lookup_takes_a_coding_written_system_bar_code() -> None:
    """As $translate does: `coding=http://loinc.org|40193-5` in a query string."""
    request = parse_lookup([("coding", f"{LOINC}|40193-5")])
    assert (request.system, request.code) == (LOINC, "40193-5")


def test_lookup_gives_french_display_print_label_and_properties(
    service: TerminologyService,
) -> None:
    answer = asyncio.run(service.lookup(parse_lookup([("system", LOINC), ("code", "40193-5")])))
    params = answer.parameters["parameter"]
    assert {
        "name": "display",
        "valueString": "Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique",
    } in params
    properties = {
        p["part"][0]["valueCode"]: p["part"][1] for p in params if p["name"] == "property"
    }
    assert properties["comparability"] == {"name": "value", "valueCode": "1"}
    assert properties["ucum-unit"] == {"name": "value", "valueCode": "mmol/L"}


def test_lookup_can_ask_for_chosen_properties(service: TerminologyService) -> None:
    request = parse_lookup([("system", LOINC), ("code", "11580-8"), ("property", "comparability")])
    params = asyncio.run(service.lookup(request)).parameters["parameter"]
    assert [p["part"][0]["valueCode"] for p in params if p["name"] == "property"] == [
        "comparability"
    ]


def test_no_correspondence_says_what_the_jdv_knows_of_the_code(service: TerminologyService) -> None:
    answer = translate(service, [("system", LOINC), ("code", "11580-8")])
    assert answer["parameter"][0] == {"name": "result", "valueBoolean": False}
    [message] = [p["valueString"] for p in answer["parameter"] if p["name"] == "message"]
    assert message == (
        "11580-8 has no correspondence in the JDV Circuit de la biologie (version seed); "
        "its comparability level is 2 (not comparable)"
    )
    reverse = translate(service, [("system", LOINC), ("code", "718-7"), ("reverse", "true")])
    [message] = [p["valueString"] for p in reverse["parameter"] if p["name"] == "message"]
    assert "718-7 is the correspondence of no analysis" in message
    assert "comparability level is 1 (comparable)" in message
