"""observation/value by xsi:type → Observation.value[x] (brief §3), through whole documents."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bridge.mapping.values import VALUE_MAPPERS
from tests.builders import convert_document, result
from tests.helpers import resources_of, roundtrip


def only_observation(value: str, **options: Any) -> tuple[dict[str, Any], list[str]]:
    conversion = convert_document(result(value, **options))
    [obs] = resources_of(roundtrip(conversion), "Observation")
    return obs, [i.code for i in conversion.issues]


def test_pq_gives_value_quantity_with_the_decimal_as_written() -> None:
    obs, issues = only_observation('<value xsi:type="PQ" value="0.70" unit="g/L"/>')
    assert obs["valueQuantity"] == {
        "value": Decimal("0.70"),
        "unit": "g/L",
        "system": "http://unitsofmeasure.org",
        "code": "g/L",
    }
    assert str(obs["valueQuantity"]["value"]) == "0.70"
    assert issues == []


def test_xsi_type_is_resolved_through_the_namespace_map() -> None:
    value = '<value xmlns:c="urn:hl7-org:v3" xsi:type="c:PQ" value="5" unit="mmol/L"/>'
    obs, _ = only_observation(value)
    assert obs["valueQuantity"]["code"] == "mmol/L"


def test_a_type_in_another_namespace_is_not_an_hl7_type() -> None:
    value = '<value xmlns:x="urn:example" xsi:type="x:PQ" value="5" unit="mmol/L"/>'
    obs, issues = only_observation(value)
    assert "valueQuantity" not in obs
    assert "unknown-value-type" in issues


@pytest.mark.parametrize(
    ("bounds", "comparator"),
    [
        ('<high value="0.5" unit="mg/L" inclusive="false"/>', "<"),
        ('<high value="0.5" unit="mg/L" inclusive="true"/>', "<="),
        ('<high value="0.5" unit="mg/L"/>', "<="),
        ('<low value="32" unit="mg/L" inclusive="true"/>', ">="),
        ('<low value="32" unit="mg/L" inclusive="false"/>', ">"),
    ],
)
def test_one_sided_interval_gives_a_comparator(bounds: str, comparator: str) -> None:
    obs, _ = only_observation(f'<value xsi:type="IVL_PQ">{bounds}</value>')
    assert obs["valueQuantity"]["comparator"] == comparator
    assert obs["valueQuantity"]["code"] == "mg/L"


def test_two_sided_interval_gives_value_range() -> None:
    obs, _ = only_observation(
        '<value xsi:type="IVL_PQ"><low value="2" unit="g/L"/><high value="4" unit="g/L"/></value>'
    )
    assert obs["valueRange"]["low"]["value"] == 2 and obs["valueRange"]["high"]["value"] == 4


def test_coded_value_keeps_translations_and_original_text() -> None:
    value = (
        '<value xsi:type="CD" code="260385009" codeSystem="2.16.840.1.113883.6.96" '
        'displayName="Négatif"><originalText><reference value="#label-2"/></originalText>'
        '<translation code="NEG" codeSystem="1.2.3.4" displayName="neg"/></value>'
    )
    obs, _ = only_observation(value)
    assert obs["valueCodeableConcept"] == {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "260385009", "display": "Négatif"},
            {"system": "urn:oid:1.2.3.4", "code": "NEG", "display": "neg"},
        ],
        "text": "Second",
    }


@pytest.mark.parametrize(
    ("value", "element", "expected"),
    [
        ('<value xsi:type="ST">Négative</value>', "valueString", "Négative"),
        ('<value xsi:type="ED">&lt;1.0 mg/L</value>', "valueString", "<1.0 mg/L"),
        ('<value xsi:type="INT" value="0"/>', "valueInteger", 0),
        ('<value xsi:type="BL" value="false"/>', "valueBoolean", False),
        ('<value xsi:type="TS" value="20250210"/>', "valueDateTime", "2025-02-10"),
    ],
)
def test_simple_types(value: str, element: str, expected: Any) -> None:
    obs, _ = only_observation(value)
    assert obs[element] == expected


def test_real_is_a_quantity_without_unit() -> None:
    obs, _ = only_observation('<value xsi:type="REAL" value="0.98"/>')
    assert obs["valueQuantity"] == {"value": Decimal("0.98")}


def test_ratio() -> None:
    obs, _ = only_observation(
        '<value xsi:type="RTO"><numerator xsi:type="INT" value="1"/>'
        '<denominator xsi:type="INT" value="64"/></value>'
    )
    assert obs["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 64}}


@pytest.mark.parametrize(
    ("flavor", "reason"),
    [
        ("NA", "not-applicable"),
        ("UNK", "unknown"),
        ("ASKU", "asked-unknown"),
        ("NAV", "temp-unknown"),
        ("MSK", "masked"),
        ("OTH", "unsupported"),
    ],
)
def test_null_flavor_gives_data_absent_reason(flavor: str, reason: str) -> None:
    obs, issues = only_observation(f'<value xsi:type="PQ" nullFlavor="{flavor}"/>')
    assert obs["dataAbsentReason"]["coding"][0]["code"] == reason
    assert not any(k.startswith("value") for k in obs)
    assert "nullflavor-mapped" in issues


def test_every_value_class_has_a_mapper() -> None:
    from bridge.cda import datatypes

    value_types = set(datatypes.Value.__args__)  # type: ignore[attr-defined]
    assert value_types <= set(VALUE_MAPPERS)


def range_of(xml: str) -> list[dict[str, Any]]:
    obs, _ = only_observation(
        '<value xsi:type="PQ" value="5.3" unit="mmol/L"/>',
        rest="".join(
            f'<referenceRange typeCode="REFV">{r}</referenceRange>' for r in xml.split("|")
        ),
    )
    return obs.get("referenceRange", [])


def test_reference_range_low_high_and_normal_type() -> None:
    [rr] = range_of(
        '<observationRange><value xsi:type="IVL_PQ"><low value="3.5" unit="mmol/L"/>'
        '<high value="6.1" unit="mmol/L"/></value><interpretationCode code="N" '
        'codeSystem="2.16.840.1.113883.5.83"/></observationRange>'
    )
    assert rr["low"]["value"] == Decimal("3.5") and rr["high"]["value"] == Decimal("6.1")
    assert rr["low"]["code"] == "mmol/L"
    assert rr["type"]["coding"][0]["code"] == "normal"


def test_every_reference_range_is_kept() -> None:
    ranges = range_of(
        '<observationRange><value xsi:type="IVL_PQ"><low value="120" unit="g/L"/>'
        '<high value="165" unit="g/L"/></value></observationRange>|'
        '<observationRange><text>Grossesse</text><value xsi:type="IVL_PQ">'
        '<low value="105" unit="g/L"/><high value="150" unit="g/L"/></value></observationRange>'
    )
    assert len(ranges) == 2
    assert ranges[1]["text"] == "Grossesse"


def test_one_sided_reference_range() -> None:
    [rr] = range_of(
        '<observationRange><value xsi:type="IVL_PQ"><high value="5.0" unit="mg/L"/>'
        "</value></observationRange>"
    )
    assert "low" not in rr and rr["high"]["value"] == Decimal("5.0")


def test_textual_reference_range() -> None:
    [rr] = range_of('<observationRange><value xsi:type="ST">négatif</value></observationRange>')
    assert rr == {"text": "négatif"}
