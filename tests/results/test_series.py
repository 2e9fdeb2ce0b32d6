"""bridge.results on each engine: who joins a series, in which unit, with which verdicts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bridge.errors import ConversionRefused
from bridge.results import convert_unit, lastn, series
from bridge.store import Store
from bridge.terminology import TerminologyService
from bridge.terminology.comparison import VERDICT_SYSTEM
from bridge.terminology.operations import InvalidRequest
from tests.store.resources import GLUCOSE, HAEMOGLOBIN, LOINC, observation, report

GLUCOSE_MASS = "53049-3"
CREATININE = "14682-9"


@pytest.fixture
def terminology(store: Store) -> TerminologyService:
    return TerminologyService(store)


def put(store: Store, *resources: dict[str, Any]) -> None:
    for resource in resources:
        store.put(resource)


def points(bundle: dict[str, Any]) -> list[tuple[str, Decimal | None, str | None]]:
    """(code, value, unit) of each match entry."""
    return [
        (
            e["resource"]["code"]["coding"][0]["code"],
            e["resource"].get("valueQuantity", {}).get("value"),
            e["resource"].get("valueQuantity", {}).get("code"),
        )
        for e in bundle["entry"]
        if e["search"]["mode"] == "match"
    ]


def verdicts(bundle: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(severity, verdict code, expression) of each issue of the outcome entry."""
    [outcome] = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    found = []
    for issue in outcome["issue"]:
        coding = issue.get("details", {}).get("coding", [{}])[0]
        if coding:
            assert coding["system"] == VERDICT_SYSTEM and issue["code"] == "business-rule"
        found.append(
            (issue["severity"], coding.get("code", issue["code"]), issue.get("expression"))
        )
    return found


def test_another_patients_result_never_joins(store: Store, terminology: TerminologyService) -> None:
    put(
        store,
        observation("mine", date="2025-01-10", value="132", unit="g/L"),
        observation("theirs", patient="p2", date="2025-02-10", value="100", unit="g/L"),
    )
    bundle = series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}")
    assert points(bundle) == [(HAEMOGLOBIN, Decimal("132"), "g/L")]
    assert bundle["total"] == 1


def test_an_empty_series_still_gets_its_whole_series_verdict(
    store: Store, terminology: TerminologyService
) -> None:
    put(store, observation("theirs", patient="p2", date="2025-02-10", value="100", unit="g/L"))
    bundle = series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}")
    assert points(bundle) == [] and bundle["total"] == 0
    assert verdicts(bundle) == [("information", "no-result", None)]


def test_a_result_without_code_system_never_compares(
    store: Store, terminology: TerminologyService
) -> None:
    put(
        store,
        observation("coded", date="2025-01-10", value="132", unit="g/L"),
        observation("bare", system=None, date="2025-02-10", value="130", unit="g/L"),
    )
    bundle = series(store, terminology, "Patient/p1", HAEMOGLOBIN)  # any system
    assert [p[1] for p in points(bundle)] == [Decimal("132"), Decimal("130")]
    assert verdicts(bundle)[0] == (
        "warning",
        "no-code-system",
        ["Bundle.entry[0]", "Bundle.entry[1]"],
    )
    assert verdicts(bundle)[-1][:2] == ("warning", "no-code-system")


@pytest.mark.parametrize(
    "quantity",
    [
        {"value": Decimal("13"), "unit": "unités"},  # not UCUM: kept as text, never converted
        {"value": Decimal("13")},  # no unit at all
    ],
)
def test_a_unit_that_cannot_be_converted_is_a_warning(
    store: Store, terminology: TerminologyService, quantity: dict[str, Any]
) -> None:
    odd = observation("odd", date="2025-02-10")
    odd["valueQuantity"] = quantity
    put(store, observation("ok", date="2025-01-10", value="132", unit="g/L"), odd)
    bundle = series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}", unit="g/dL")
    assert points(bundle) == [
        (HAEMOGLOBIN, Decimal("13.2"), "g/dL"),
        (HAEMOGLOBIN, Decimal("13"), None),
    ]
    found = verdicts(bundle)
    assert ("warning", "unit-not-convertible", ["Bundle.entry[1]"]) in found  # the result
    assert found[0] == ("warning", "unit-not-convertible", ["Bundle.entry[0]", "Bundle.entry[1]"])
    assert found[-1][:2] == ("warning", "unit-not-convertible")  # the whole series


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "registered"])
def test_only_current_results_join(
    store: Store, terminology: TerminologyService, status: str
) -> None:
    put(
        store,
        observation("kept", date="2025-01-10", value="132", unit="g/L", status="amended"),
        observation("left", date="2025-02-10", value="90", unit="g/L", status=status),
    )
    bundle = series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}")
    assert [p[1] for p in points(bundle)] == [Decimal("132")]


def test_results_of_a_cancelled_report_leave_the_series(
    store: Store, terminology: TerminologyService
) -> None:
    put(
        store,
        observation("a", date="2025-01-10", value="132", unit="g/L"),
        observation("b", date="2025-02-10", value="90", unit="g/L"),
        report("r1", "a"),
        {**report("r2", "b"), "status": "entered-in-error"},
    )
    assert [p[1] for p in points(series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}"))] == [
        Decimal("132")
    ]


def test_date_filter_and_several_codes(store: Store, terminology: TerminologyService) -> None:
    put(
        store,
        observation("g1", code=GLUCOSE, date="2024-12-01", value="5.0", unit="mmol/L"),
        observation("g2", code=GLUCOSE, date="2025-01-15", value="5.30", unit="mmol/L"),
        observation("g3", code=GLUCOSE_MASS, date="2025-02-26", value="0.95", unit="g/L"),
        observation("h1", date="2025-02-01", value="132", unit="g/L"),
    )
    dated = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE}", date=["ge2025-01-01"])
    assert points(dated) == [
        (GLUCOSE, Decimal("5.30"), "mmol/L"),
        (GLUCOSE, Decimal("5.27"), "mmol/L"),
    ]
    bounded = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE}", date=("ge2025", "lt2025-02"))
    assert [p[1] for p in points(bounded)] == [Decimal("5.30")]
    # the asked codes are one series: the JDV says 40193-5 and 718-7 are different analyses
    both = series(store, terminology, "p1", [f"{LOINC}|{GLUCOSE},{LOINC}|{HAEMOGLOBIN}"])
    assert [p[0] for p in points(both)] == [GLUCOSE, GLUCOSE, HAEMOGLOBIN, GLUCOSE]
    found = verdicts(both)
    assert found[1] == ("warning", "different-analyses", ["Bundle.entry[1]", "Bundle.entry[2]"])
    assert ("warning", "unit-not-convertible", ["Bundle.entry[2]"]) in found  # g/L → mmol/L


def test_one_point_per_report_in_the_lab_unit(
    store: Store, terminology: TerminologyService
) -> None:
    """A report giving one result in two units is one point: the lab's value in the series
    unit, never a conversion of the other one."""
    put(
        store,
        observation(
            "mmol", code=GLUCOSE, date="2025-03-12T07:50:00+01:00", value="5.30", unit="mmol/L"
        ),
        observation(
            "mass", code=GLUCOSE_MASS, date="2025-03-12T07:50:00+01:00", value="0.95", unit="g/L"
        ),
        report("both", "mmol", "mass"),
    )
    in_mass = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE}", unit="g/L")
    assert points(in_mass) == [(GLUCOSE_MASS, Decimal("0.95"), "g/L")]
    assert in_mass["entry"][0]["resource"]["id"] == "mass"  # the stored Observation itself
    in_moles = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE_MASS}", unit_system="SI")
    assert points(in_moles) == [(GLUCOSE, Decimal("5.30"), "mmol/L")]
    converted = convert_unit(store, terminology, "mmol", unit="g/L")
    assert converted["id"] == "mass" and converted["valueQuantity"]["value"] == Decimal("0.95")
    assert convert_unit(store, terminology, "mass", unit_system="SI")["id"] == "mmol"


def test_two_analyses_of_one_report_asked_together_are_two_points(
    store: Store, terminology: TerminologyService
) -> None:
    """Glucose and creatinine at the same time in one report, asked in one series: both
    join (the one-point rule is for one analysis in two units, not for two analyses)."""
    when = "2025-01-28T07:40:00+01:00"
    put(
        store,
        observation("glu", code=GLUCOSE, date=when, value="6.2", unit="mmol/L"),
        observation("crea", code=CREATININE, date=when, value="78", unit="umol/L"),
        observation("crea-2", code=CREATININE, date="2025-03-10", value="85", unit="umol/L"),
        report("one", "glu", "crea"),
        report("two", "crea-2"),
    )
    for unit in (None, "umol/L", "mmol/L"):
        found = series(
            store, terminology, "p1", f"{LOINC}|{GLUCOSE},{LOINC}|{CREATININE}", unit=unit
        )
        codes = sorted(code for code, _, _ in points(found))
        assert codes == [CREATININE, CREATININE, GLUCOSE], unit


def test_a_result_without_value_is_never_answered_by_another(
    store: Store, terminology: TerminologyService
) -> None:
    """A withdrawn creatinine (no value) asked in another unit: 422, never the report's
    other creatinine (another technique) in its place; nor is another technique's result
    in the same unit taken for a second unit of this one."""
    when = "2025-02-03T08:00:00+01:00"
    put(
        store,
        observation("jaffe", code=CREATININE, date=when, status="cancelled"),
        observation("enzymatic", code=CREATININE, date=when, value="52", unit="umol/L"),
        observation("jaffe-2", code=CREATININE, date=when, value="61", unit="umol/L"),
        report("both", "jaffe", "enzymatic", "jaffe-2"),
    )
    for unit in ("umol/L", "mmol/L", "mg/L"):
        with pytest.raises(ConversionRefused) as refused:
            convert_unit(store, terminology, "jaffe", unit=unit)
        assert refused.value.reason == "not-a-quantity"
    view = convert_unit(store, terminology, "jaffe-2", unit="mmol/L")
    assert view["valueQuantity"]["value"] == Decimal("0.0610")
    assert view["derivedFrom"] == [{"reference": "Observation/jaffe-2"}]


def test_a_single_result_is_described_on_its_own(
    store: Store, terminology: TerminologyService
) -> None:
    put(store, observation("one", code=GLUCOSE, date="2025-02-01", value="5.3", unit="mmol/L"))
    found = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE}")
    [whole] = found["entry"][-1]["resource"]["issue"]
    assert whole["severity"] == "information"
    assert (
        whole["diagnostics"]
        == f"whole series: one result: {GLUCOSE} has comparability level 1 in the JDV"
    )


def test_the_series_unit_order(store: Store, terminology: TerminologyService) -> None:
    put(
        store,
        observation("a", code=GLUCOSE_MASS, date="2025-01-15", value="0.95", unit="g/L"),
        observation("b", code=GLUCOSE, date="2025-02-26", value="5.30", unit="mmol/L"),
    )
    asked = f"{LOINC}|{GLUCOSE_MASS}"
    assert {p[2] for p in points(series(store, terminology, "p1", asked))} == {"g/L"}  # JDV unit
    assert {p[2] for p in points(series(store, terminology, "p1", asked, unit="mg/dL"))} == {
        "mg/dL"
    }
    si = series(store, terminology, "p1", asked, unit_system="SI")
    assert points(si) == [
        (GLUCOSE, Decimal("5.27"), "mmol/L"),
        (GLUCOSE, Decimal("5.30"), "mmol/L"),
    ]
    put(store, observation("h", date="2025-01-01", value="13.2", unit="g/dL"))
    haemoglobin = series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}", unit_system="SI")
    assert points(haemoglobin) == [(HAEMOGLOBIN, Decimal("132"), "g/L")]  # SI: per litre


def test_nothing_stored_changes(store: Store, terminology: TerminologyService) -> None:
    put(
        store,
        observation("a", date="2025-01-10", value="132", unit="g/L"),
        observation("b", date="2025-02-10", value="13.2", unit="g/dL"),
    )
    before = [store.read("Observation", i).content for i in ("a", "b")]
    series(store, terminology, "p1", f"{LOINC}|{HAEMOGLOBIN}", unit="mg/dL")
    convert_unit(store, terminology, "a", unit="g/dL")
    assert [store.read("Observation", i).content for i in ("a", "b")] == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"patient": "", "codes": "718-7"}, "patient"),
        ({"patient": "Group/x", "codes": "718-7"}, "Patient/id"),
        ({"patient": "p1", "codes": ""}, "system|code"),
        ({"patient": "p1", "codes": "718-7", "unit": "croix"}, "not a UCUM unit"),
        ({"patient": "p1", "codes": "718-7", "unit_system": "metric"}, "SI or conventional"),
    ],
)
def test_bad_requests_say_why(
    store: Store, terminology: TerminologyService, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        series(store, terminology, **arguments)


def test_lastn_groups_by_code_most_recent_first(store: Store) -> None:
    local = observation("local", code="GLU", system="urn:oid:1.2.250.1.999.1", date="2025-04-01")
    both = observation("both", code=GLUCOSE, date="2025-03-01", value="5.1", unit="mmol/L")
    both["code"]["coding"].append({"system": "urn:oid:1.2.250.1.999.1", "code": "GLU"})
    put(
        store,
        observation("g1", code=GLUCOSE, date="2025-01-01", value="5.0", unit="mmol/L"),
        observation("g2", code=GLUCOSE, date="2025-02-01", value="5.3", unit="mmol/L"),
        both,
        observation("h1", date="2025-01-05", value="132", unit="g/L"),
        observation("h2", date="2025-02-05", value="130", unit="g/L"),
        observation("other", patient="p2", date="2025-05-01", value="140", unit="g/L"),
        local,
    )

    def ids(*params: tuple[str, str]) -> list[str]:
        return [e["resource"]["id"] for e in lastn(store, params)["entry"]]

    assert ids(("patient", "p1"), ("category", "laboratory")) == ["both", "h2", "local"]
    assert ids(("patient", "p1"), ("category", "laboratory"), ("max", "2")) == [
        "both",
        "g2",
        "h2",
        "h1",
        "local",
    ]
    assert ids(("subject", "Patient/p1"), ("code", f"{LOINC}|{HAEMOGLOBIN}"), ("max", "5")) == [
        "h2",
        "h1",
    ]
    assert ids(("patient", "p1"), ("code", f"{LOINC}|{GLUCOSE}"), ("date", "lt2025-02-15")) == [
        "g2"
    ]
    cancelled = observation("late", code=GLUCOSE, date="2025-06-01", status="cancelled")
    put(store, cancelled, observation("wrong", date="2025-06-02", status="entered-in-error"))
    assert ids(("patient", "p1"), ("category", "laboratory")) == ["both", "h2", "local"]
    assert ids(("patient", "p1"), ("code", f"{LOINC}|{GLUCOSE}"), ("status", "cancelled")) == [
        "late"
    ]
    for params, message in [
        ((("category", "laboratory"),), "patient"),
        ((("patient", "p1"),), "category"),
        ((("patient", "p1"), ("code", GLUCOSE), ("max", "0")), "max"),
    ]:
        with pytest.raises(InvalidRequest, match=message):
            lastn(store, params)


def test_definitions_and_a_series_are_valid_fhir(
    store: Store, terminology: TerminologyService
) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    from bridge.results.definitions import DEFINITIONS

    for resource in DEFINITIONS:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    put(
        store,
        observation("a", code=GLUCOSE, date="2025-01-15", value="5.30", unit="mmol/L"),
        observation("b", code=GLUCOSE_MASS, date="2025-02-26", value="0.95", unit="g/L"),
    )
    bundle = series(store, terminology, "p1", f"{LOINC}|{GLUCOSE}", base="http://x/fhir")
    get_fhir_model_class("Bundle").model_validate(bundle)
