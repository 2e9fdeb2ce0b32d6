"""The Ségur test scenarios (brief §8), unit conversion and comparability (§6, §7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import ConversionRefused
from bridge.mapping import convert
from bridge.terminology import JdvIndex, compare, convert_observation, ucum_factor
from bridge.terminology.conceptmap import build_codesystem, build_conceptmap
from bridge.terminology.conversion import ORIGINAL_DATA
from bridge.terminology.jdv import merge_rows, seed_rows
from tests.helpers import EXAMPLES, resources_of, roundtrip

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def jdv() -> JdvIndex:
    rows, _ = merge_rows(seed_rows())
    return JdvIndex(build_conceptmap(rows, "seed"), build_codesystem(rows, "seed"))


def quantity(value: str, unit: str) -> dict[str, Any]:
    return {"value": Decimal(value), "unit": unit, "system": UCUM, "code": unit}


def result(
    code: str,
    value: str,
    unit: str,
    low: str | None = None,
    high: str | None = None,
    patient: str = "Patient/ins-1",
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{code}-{value}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": patient},
        "valueQuantity": quantity(value, unit),
    }
    if low and high:
        obs["referenceRange"] = [{"low": quantity(low, unit), "high": quantity(high, unit)}]
    return obs


def bounds(obs: dict[str, Any]) -> tuple[Decimal, Decimal]:
    rr = obs["referenceRange"][0]
    return rr["low"]["value"], rr["high"]["value"]


# 09.01 fasting glucose, level 1, comparable and convertible ------------------------------


def test_0901_fasting_glucose_is_comparable_after_conversion(jdv: JdvIndex) -> None:
    first, second = result("40193-5", "5.3", "mmol/L"), result("53049-3", "0.95", "g/L")
    verdict = compare(first, second, jdv)
    assert (verdict.verdict, verdict.level, verdict.conversion, verdict.alert) == (
        "comparable-after-conversion",
        "1",
        "jdv",
        None,
    )


def test_0901_moles_to_mass_with_the_jdv_factor(jdv: JdvIndex) -> None:
    converted = convert_observation(result("40193-5", "5.3", "mmol/L"), jdv, to_unit="g/L")
    assert converted["valueQuantity"] == quantity("0.954", "g/L")
    assert converted["code"]["coding"][0]["code"] == "53049-3"


def test_0901_mass_to_moles_converts_the_reference_range_too(jdv: JdvIndex) -> None:
    original = result("53049-3", "0.95", "g/L", "0.63", "1.1")
    converted = convert_observation(original, jdv, to_system="SI")
    assert converted["valueQuantity"] == quantity("5.27", "mmol/L")
    assert bounds(converted) == (Decimal("3.50"), Decimal("6.11"))
    assert converted["code"]["coding"][0]["code"] == "40193-5"
    [kept] = [e for e in converted["extension"] if e["url"] == ORIGINAL_DATA]
    parts = {p["url"]: p for p in kept["extension"]}
    assert parts["has-been-converted"]["valueBoolean"] is True
    assert parts["original-code"]["valueCodeableConcept"] == original["code"]
    assert parts["original-value"]["valueQuantity"] == original["valueQuantity"]
    assert converted["derivedFrom"] == [{"reference": f"Observation/{original['id']}"}]
    assert original["valueQuantity"]["code"] == "g/L"  # the original is left untouched


# 09.02 folates, level 2, not comparable but convertible ----------------------------------


def test_0902_folates_are_not_comparable_but_convertible(jdv: JdvIndex) -> None:
    verdict = compare(result("2284-8", "25", "ug/L"), result("14732-2", "57", "nmol/L"), jdv)
    assert (verdict.verdict, verdict.level, verdict.convertible) == ("not-comparable", "2", True)
    assert verdict.alert is not None
    for word in ("unités", "valeurs de référence", "technique"):
        assert word in verdict.alert
    converted = convert_observation(result("2284-8", "25", "ug/L"), jdv, to_unit="nmol/L")
    assert converted["valueQuantity"]["value"] == Decimal("56.7")  # 25 × 2.266 (derived factor)


# 09.03 TSH, level 2, same code and unit but not comparable ------------------------------


def test_0903_tsh_same_code_same_unit_is_not_comparable(jdv: JdvIndex) -> None:
    verdict = compare(
        result("11580-8", "2.17", "m[IU]/L"), result("11580-8", "2.17", "m[IU]/L"), jdv
    )
    assert (verdict.verdict, verdict.level, verdict.convertible) == ("not-comparable", "2", False)
    assert verdict.alert and "niveau de comparabilité 2" in verdict.alert


# 09.04 haemoglobin, level 1, converted by UCUM -----------------------------------------


def test_0904_haemoglobin_is_comparable_through_ucum(jdv: JdvIndex) -> None:
    verdict = compare(result("718-7", "132", "g/L"), result("718-7", "13.2", "g/dL"), jdv)
    assert (verdict.verdict, verdict.level, verdict.conversion) == (
        "comparable-after-conversion",
        "1",
        "ucum",
    )
    converted = convert_observation(
        result("718-7", "132", "g/L", "120", "165"), jdv, to_unit="g/dL"
    )
    assert converted["valueQuantity"] == quantity("13.2", "g/dL")
    assert bounds(converted) == (Decimal("12"), Decimal("16.5"))
    assert converted["code"]["coding"][0]["code"] == "718-7"  # UCUM keeps the code
    back = convert_observation(result("718-7", "13.2", "g/dL", "12", "16.5"), jdv, to_unit="g/L")
    assert back["valueQuantity"]["value"] == Decimal("132") and bounds(back) == (120, 165)


# What is never compared or converted ------------------------------------------------------


def test_another_patient_is_never_compared(jdv: JdvIndex) -> None:
    verdict = compare(
        result("718-7", "132", "g/L"), result("718-7", "130", "g/L", patient="Patient/other"), jdv
    )
    assert verdict.verdict == "not-comparable" and "patient" in verdict.reason


def test_codes_outside_the_jdv_or_without_system_are_not_comparable(jdv: JdvIndex) -> None:
    local = result("718-7", "132", "g/L")
    local["code"]["coding"][0]["system"] = "urn:oid:1.2.250.1.2.3.4"
    assert compare(local, local, jdv).verdict == "not-comparable"
    outside = result("2951-2", "140", "mmol/L")
    assert "not in the JDV" in compare(outside, outside, jdv).reason
    systemless = result("718-7", "132", "g/L")
    del systemless["code"]["coding"][0]["system"]
    assert "code system" in compare(systemless, systemless, jdv).reason


def test_an_annotation_standing_alone_is_the_unity() -> None:
    """UCUM: "{ratio}" alone is 1 (the ANS electrophoresis reports use it), never an error."""
    assert ucum_factor("{ratio}", "%") == Decimal("100")
    assert ucum_factor("{score}", "1") == Decimal("1")
    assert ucum_factor("g/L", "g/dL") == Decimal("0.1")


def test_giga_per_litre_is_never_gauss(jdv: JdvIndex) -> None:
    leucocytes = result("6690-2", "8.2", "10*9/L")
    leucocytes["valueQuantity"]["unit"] = "G/L"
    assert ucum_factor("G/L", "10*6/L") == Decimal("1000")
    converted = convert_observation(leucocytes, jdv, to_unit="/mm3")
    assert converted["valueQuantity"]["value"] == Decimal("8200")


@pytest.mark.parametrize(
    ("obs", "unit", "reason"),
    [
        (result("53049-3", "0.95", "g/L"), "mg/dL", None),  # allowed: g/L → mg/dL under UCUM
        (result("718-7", "132", "g/L"), "mmol/L", "no-factor"),  # no JDV factor for haemoglobin
        (result("40193-5", "5.3", "mmol/L"), "g", "dimension-differs"),  # a mass
        (result("40193-5", "5.3", "mmol/L"), "croix", "unit-unknown"),
    ],
)
def test_conversions_refused_with_a_reason(
    jdv: JdvIndex, obs: dict[str, Any], unit: str, reason: str | None
) -> None:
    if reason is None:
        assert convert_observation(obs, jdv, to_unit=unit)["valueQuantity"]["value"] == 95
        return
    with pytest.raises(ConversionRefused) as refused:
        convert_observation(obs, jdv, to_unit=unit)
    assert refused.value.reason == reason


def test_a_unit_that_is_not_ucum_is_never_converted(jdv: JdvIndex) -> None:
    obs = result("40193-5", "5.3", "mmol/L")
    obs["valueQuantity"] = {"value": Decimal("5.3"), "unit": "unités"}  # as the converter keeps it
    with pytest.raises(ConversionRefused) as refused:
        convert_observation(obs, jdv, to_unit="g/L")
    assert refused.value.reason == "unit-unknown"


def test_when_the_lab_gave_both_units_nothing_is_converted(jdv: JdvIndex) -> None:
    bundle = roundtrip(convert((EXAMPLES / "urea-glucose-2021-translation.xml").read_bytes()))
    [glucose] = [
        o
        for o in resources_of(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == "40193-5"
    ]
    shown = convert_observation(glucose, jdv, to_unit="g/L")
    assert shown["valueQuantity"]["value"] == Decimal("1.12")  # the lab's value, not 6.2 × 0.18
    assert shown["code"]["coding"][0]["code"] == "53049-3"
    assert not any(e["url"] == ORIGINAL_DATA for e in shown.get("extension", ()))
    assert [rr["low"]["value"] for rr in shown["referenceRange"]] == [Decimal("0.70")]


@settings(max_examples=60, deadline=None)
@given(
    value=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3),
    units=st.sampled_from(
        [
            ("g/L", "g/dL"),
            ("mmol/L", "umol/L"),
            ("10*9/L", "/mm3"),
            ("mg/dL", "g/L"),
            ("m[IU]/L", "[IU]/L"),
        ]
    ),
)
def test_ucum_round_trips(value: Decimal, units: tuple[str, str]) -> None:
    forward, backward = ucum_factor(*units), ucum_factor(units[1], units[0])
    assert forward * backward == 1
    assert value * forward * backward == value


def test_a_report_in_both_units_answers_its_own_observation(jdv: JdvIndex) -> None:
    """5.30 mmol/L beside 0.95 g/L in one report: asked in g/L, the answer is the lab's
    0.95 g/L, never 5.30 × 0.18 = 0.954."""
    bundle = roundtrip(convert((EXAMPLES / "glucose-two-units.xml").read_bytes()))
    mmol, mass = resources_of(bundle, "Observation")
    assert mmol["code"]["coding"][0]["code"] == "40193-5"
    shown = convert_observation(mmol, jdv, to_unit="g/L", siblings=[mmol, mass])
    assert shown == mass
    assert convert_observation(mass, jdv, to_system="SI", siblings=[mmol, mass]) == mmol
    alone = convert_observation(mmol, jdv, to_unit="g/L")  # without its report: converted
    assert alone["valueQuantity"]["value"] == Decimal("0.954")
    assert alone["meta"]["tag"][0]["code"] == "converted"
    other_time = {**mass, "effectiveDateTime": "2025-04-01"}
    assert convert_observation(mmol, jdv, to_unit="g/L", siblings=[other_time]) != other_time


def test_a_result_already_in_the_unit_comes_back_as_it_is(jdv: JdvIndex) -> None:
    original = result("718-7", "132", "g/L", "120", "165")
    assert convert_observation(original, jdv, to_unit="g/L") == original
    assert convert_observation(original, jdv, to_system="SI") == original


def test_asked_in_a_scale_of_the_labs_other_unit_its_value_is_scaled(jdv: JdvIndex) -> None:
    """Asked in mg/dL, a report giving 5.30 mmol/L and 0.95 g/L shows 0.95 g/L scaled by
    UCUM (95.0 mg/dL), never 5.30 mmol/L × the JDV factor (95.4 mg/dL); a 2021 second
    unit (6.2 mmol/L with 1.12 g/L, range 0.70–1.10 g/L) likewise."""
    bundle = roundtrip(convert((EXAMPLES / "glucose-two-units.xml").read_bytes()))
    mmol, mass = resources_of(bundle, "Observation")
    shown = convert_observation(mmol, jdv, to_unit="mg/dL", siblings=[mmol, mass])
    assert shown["valueQuantity"]["value"] == Decimal("95.0")
    assert shown["derivedFrom"] == [{"reference": f"Observation/{mass['id']}"}]
    assert shown["code"]["coding"][0]["code"] == "53049-3"
    [original] = [e for e in shown["extension"] if e["url"] == ORIGINAL_DATA]
    assert original["extension"][2]["valueQuantity"]["value"] == Decimal("0.95")

    bundle = roundtrip(convert((EXAMPLES / "urea-glucose-2021-translation.xml").read_bytes()))
    [glucose] = [
        o
        for o in resources_of(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == "40193-5"
    ]
    shown = convert_observation(glucose, jdv, to_unit="mg/dL")
    assert shown["valueQuantity"]["value"] == Decimal("112")
    assert bounds(shown) == (Decimal("70.0"), Decimal("110"))  # the lab's 0.70, not 3.9 × 0.18
    assert shown["code"]["coding"][0]["code"] == "53049-3"
    assert shown["meta"]["tag"][0]["code"] == "converted"


@pytest.mark.parametrize(
    ("obs", "unit", "words"),
    [
        (result("53049-3", "0.95", "g/L"), "s", "[time]"),
        (result("53049-3", "0.95", "g/L"), "G/L", "1 / [length] ** 3"),  # giga per litre
    ],
)
def test_another_dimension_is_named_as_such(
    jdv: JdvIndex, obs: dict[str, Any], unit: str, words: str
) -> None:
    with pytest.raises(ConversionRefused) as refused:
        convert_observation(obs, jdv, to_unit=unit)
    assert refused.value.reason == "dimension-differs"
    assert "measure different things" in str(refused.value) and words in str(refused.value)


def test_a_range_in_another_unit_is_brought_to_the_value_unit(jdv: JdvIndex) -> None:
    """1.05 g/L with a range in g/L and another in mg/dL: shown in g/L, every bound is in
    g/L (63–126 mg/dL → 0.63–1.26: a decimal shift keeps the lab's digits), the value as
    the lab wrote it."""
    obs = result("53049-3", "1.05", "g/L")
    obs["referenceRange"] = [
        {"high": quantity("1.10", "g/L")},
        {"low": quantity("63", "mg/dL"), "high": quantity("126", "mg/dL")},
    ]
    shown = convert_observation(obs, jdv, to_unit="g/L")
    assert shown["valueQuantity"]["value"] == Decimal("1.05")
    ranges = shown["referenceRange"]
    found = [(rr.get("low", {}).get("value"), rr["high"]["value"]) for rr in ranges]
    assert found == [(None, Decimal("1.10")), (Decimal("0.63"), Decimal("1.26"))]
    assert str(ranges[1]["low"]["value"]) == "0.63"
    assert {b["code"] for rr in shown["referenceRange"] for b in rr.values()} == {"g/L"}
    assert shown["meta"]["tag"][0]["code"] == "converted"
    assert shown["derivedFrom"] == [{"reference": f"Observation/{obs['id']}"}]
    assert convert_observation(shown, jdv, to_unit="g/L") == shown  # nothing left to convert


def test_a_decimal_shift_keeps_the_labs_digits(jdv: JdvIndex) -> None:
    """0.63 g/L is 63 mg/dL, not 63.0; 1.10 g/L is 110; 8.8 mg/L is 0.88 mg/dL."""
    for value, unit, target, expected in [
        ("0.63", "g/L", "mg/dL", "63"),
        ("1.10", "g/L", "mg/dL", "110"),
        ("8.8", "mg/L", "mg/dL", "0.88"),
        ("132", "g/L", "g/dL", "13.2"),
    ]:
        shown = convert_observation(result("718-7", value, unit), jdv, to_unit=target)
        assert str(shown["valueQuantity"]["value"]) == expected, (value, unit, target)


def test_a_range_without_unit_is_read_in_the_values_unit(jdv: JdvIndex) -> None:
    """0.95 g/L, range 0.63–1.10 written without a unit: shown in mmol/L, the range too."""
    obs = result("53049-3", "0.95", "g/L")
    obs["referenceRange"] = [
        {"low": {"value": Decimal("0.63")}, "high": {"value": Decimal("1.10")}}
    ]
    shown = convert_observation(obs, jdv, to_unit="mmol/L")
    assert shown["valueQuantity"]["value"] == Decimal("5.27")
    assert bounds(shown) == (Decimal("3.50"), Decimal("6.11"))
    assert {b["code"] for b in shown["referenceRange"][0].values()} == {"mmol/L"}


def test_a_range_in_the_targets_unit_beside_the_value_goes_there_by_ucum(jdv: JdvIndex) -> None:
    """5.3 mmol/L with its range written in g/L, shown in g/L: the value by the JDV
    factor, the range as the lab wrote it."""
    obs = result("14749-6", "5.3", "mmol/L")
    obs["referenceRange"] = [{"low": quantity("0.70", "g/L"), "high": quantity("1.10", "g/L")}]
    shown = convert_observation(obs, jdv, to_unit="g/L")
    assert shown["valueQuantity"]["value"] == Decimal("0.954")
    assert bounds(shown) == (Decimal("0.70"), Decimal("1.10"))


def test_the_refusal_of_a_value_without_unit_says_so(jdv: JdvIndex) -> None:
    obs = result("14749-6", "5.3", "mmol/L")
    obs["valueQuantity"] = {"value": Decimal("5.3")}
    with pytest.raises(ConversionRefused, match="the value has no unit"):
        convert_observation(obs, jdv, to_unit="g/L")


def test_a_range_in_the_counterparts_unit_goes_by_the_counterparts_factor(
    jdv: JdvIndex,
) -> None:
    """5.3 mmol/L with its range written in g/L, shown in mmol/L: the value as written,
    the range by the g/L code's own JDV factor (0.70 g/L × 5.551 = 3.89 mmol/L)."""
    obs = result("14749-6", "5.3", "mmol/L")
    obs["referenceRange"] = [{"low": quantity("0.70", "g/L"), "high": quantity("1.10", "g/L")}]
    shown = convert_observation(obs, jdv, to_unit="mmol/L")
    assert shown["valueQuantity"]["value"] == Decimal("5.3")
    assert bounds(shown) == (Decimal("3.89"), Decimal("6.11"))
    assert {b["code"] for b in shown["referenceRange"][0].values()} == {"mmol/L"}
