"""The Ségur scenarios (brief §8) end to end: POST /fhir/$ingest, then $series over HTTP.

Twice: with the project's own documents (fhir_examples/segur-*.xml and the report
giving glucose in two units) and with the public ANS pairs of ../shared/corpus.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.terminology.comparison import VERDICT_SYSTEM
from bridge.terminology.conversion import ORIGINAL_DATA, VIEW_SYSTEM
from tests.api.conftest import Api
from tests.helpers import EXAMPLES

LOINC = "http://loinc.org"
TEST_INS = "urn:oid:1.2.250.1.213.1.4.10"
ROUSSEL, FONTAINE, BLANC, MOREL = (
    "275016912345618",
    "159076912345627",
    "282036912345636",
    "164116912345645",
)
GARNIER = "168056938321409"  # glucose-two-units.xml, replaced by glucose-replacement.xml


def patient_id(api: Api, ins: str) -> str:
    found = api.http.get("/Patient", params={"identifier": f"{TEST_INS}|{ins}"}).json()
    [entry] = found["entry"]
    return str(entry["resource"]["id"])


def get_series(api: Api, ins: str, *codes: str, **params: str) -> dict[str, Any]:
    response = api.http.get(
        "/Observation/$series",
        params={"patient": patient_id(api, ins), "code": ",".join(f"{LOINC}|{c}" for c in codes)}
        | params,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def values(bundle: dict[str, Any]) -> list[tuple[Decimal, str]]:
    return [
        (Decimal(str(o["valueQuantity"]["value"])), o["valueQuantity"]["code"])
        for o in matches(bundle)
    ]


def ranges(bundle: dict[str, Any]) -> list[tuple[Decimal, Decimal]]:
    return [
        tuple(Decimal(str(o["referenceRange"][0][b]["value"])) for b in ("low", "high"))  # type: ignore[misc]
        for o in matches(bundle)
    ]


def issues(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    [outcome] = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert bundle["entry"][-1] is outcome  # after every result
    found: list[dict[str, Any]] = outcome["resource"]["issue"]
    for issue in found:
        assert issue["code"] == "business-rule"
        assert issue["details"]["coding"][0]["system"] == VERDICT_SYSTEM
    return found


def severities(bundle: dict[str, Any]) -> set[str]:
    return {i["severity"] for i in issues(bundle)}


def converted(observation: dict[str, Any]) -> bool:
    tags = observation.get("meta", {}).get("tag", ())
    return any(t["system"] == VIEW_SYSTEM and t["code"] == "converted" for t in tags)


# With the project's own documents -----------------------------------------------------


def test_0901_one_comparable_series_in_either_unit(loaded: Api) -> None:
    moles = get_series(loaded, ROUSSEL, "40193-5")
    assert values(moles) == [(Decimal("5.3"), "mmol/L"), (Decimal("5.27"), "mmol/L")]
    assert ranges(moles)[1] == (Decimal("3.50"), Decimal("6.11"))
    first, second = matches(moles)
    assert not converted(first) and first["id"]
    assert converted(second) and second["code"]["coding"][0]["code"] == "40193-5"
    [original] = [e for e in second["extension"] if e["url"] == ORIGINAL_DATA]
    parts = {p["url"]: p for p in original["extension"]}
    assert parts["original-code"]["valueCodeableConcept"]["coding"][0]["code"] == "53049-3"
    assert Decimal(str(parts["original-value"]["valueQuantity"]["value"])) == Decimal("0.95")
    assert severities(moles) == {"information"}
    pair, whole = issues(moles)
    assert pair["expression"] == ["Bundle.entry[0]", "Bundle.entry[1]"]
    assert pair["details"]["coding"][0]["code"] == "comparable-after-conversion"
    assert whole["expression"] == ["Bundle.entry[0]", "Bundle.entry[1]"]

    mass = get_series(loaded, ROUSSEL, "53049-3")
    assert values(mass) == [(Decimal("0.954"), "g/L"), (Decimal("0.95"), "g/L")]
    assert severities(mass) == {"information"}


def test_0902_convertible_with_an_alert(loaded: Api) -> None:
    bundle = get_series(loaded, FONTAINE, "2284-8")
    assert values(bundle) == [(Decimal("25"), "ug/L"), (Decimal("25.2"), "ug/L")]  # 57 × 0.4414
    assert severities(bundle) == {"warning"}
    text = issues(bundle)[0]["details"]["text"]
    assert "vérifiez les unités, les valeurs de référence et la technique" in text
    assert "check the units, the reference ranges and the technique" in text
    assert issues(bundle)[0]["details"]["coding"][0]["code"] == "level-2"


def test_0903_same_code_and_unit_still_an_alert(loaded: Api) -> None:
    bundle = get_series(loaded, BLANC, "11580-8")
    assert values(bundle) == [(Decimal("2.17"), "m[IU]/L")] * 2
    assert not any(converted(o) for o in matches(bundle))
    assert [i["severity"] for i in issues(bundle)] == ["warning", "warning"]


def test_0904_one_scale_without_alert(loaded: Api) -> None:
    bundle = get_series(loaded, MOREL, "718-7", unit="g/L")
    assert values(bundle) == [(Decimal("132"), "g/L"), (Decimal("132"), "g/L")]
    assert ranges(bundle) == [(Decimal("120"), Decimal("165"))] * 2
    assert severities(bundle) == {"information"}
    by_default = get_series(loaded, MOREL, "718-7")  # the most recent result's unit
    assert values(by_default) == [(Decimal("13.2"), "g/dL"), (Decimal("13.2"), "g/dL")]


def test_a_report_in_both_units_is_never_converted(loaded: Api) -> None:
    for code, expected in [("40193-5", "5.6"), ("53049-3", "1.01")]:
        bundle = get_series(loaded, GARNIER, code)
        march = matches(bundle)[-1]  # glucose-replacement.xml gives 5.60 mmol/L and 1.01 g/L
        assert Decimal(str(march["valueQuantity"]["value"])) == Decimal(expected)
        assert not converted(march) and march["id"]
        assert bundle["total"] == 2  # January's report (second unit) and March's, once each
    [mmol] = [
        o
        for o in matches(get_series(loaded, GARNIER, "40193-5"))
        if o.get("effectiveDateTime", "").startswith("2025-03")
    ]
    answer = loaded.http.get(f"/Observation/{mmol['id']}/$convert-unit", params={"unit": "g/L"})
    assert answer.status_code == 200
    assert answer.json()["code"]["coding"][0]["code"] == "53049-3" and answer.json()["id"]
    assert not converted(answer.json())


def test_in_a_third_unit_the_labs_own_value_of_that_dimension_is_scaled(loaded: Api) -> None:
    """In mg/dL the reports giving glucose in both units show their g/L value scaled by
    UCUM (1.01 g/L → 101, 1.12 g/L → 112, range 0.70 → 70.0), not mmol/L × the JDV factor."""
    bundle = get_series(loaded, GARNIER, "40193-5", unit="mg/dL")
    assert values(bundle) == [(Decimal("112"), "mg/dL"), (Decimal("101"), "mg/dL")]
    assert ranges(bundle)[0][0] == Decimal("70.0")
    assert all(converted(o) for o in matches(bundle))


def test_two_analyses_of_one_report_and_a_second_unit_without_its_own_code(
    loaded: Api,
) -> None:
    """urea-glucose-2021-translation.xml: glucose and creatinine of one report asked
    together are two points; the creatinine's second unit (8.8 mg/L, a translation the
    JDV gives no code for) keeps the result's LOINC coding, in the view and in the
    mesures-original-data of a further conversion."""
    both = matches(get_series(loaded, GARNIER, "40193-5", "14682-9"))
    assert {o["code"]["coding"][0]["code"] for o in both} >= {"40193-5", "14682-9"}
    [creatinine] = [o for o in both if o["code"]["coding"][0]["code"] == "14682-9"]
    stored = creatinine.get("id") or creatinine["derivedFrom"][0]["reference"].split("/")[1]
    conventional = get_series(loaded, GARNIER, "14682-9", **{"unit-system": "conventional"})
    assert values(conventional) == [(Decimal("8.8"), "mg/L")]  # the lab's own second unit
    for unit, value in (("mg/L", "8.8"), ("mg/dL", "0.88")):
        view = loaded.http.get(f"/Observation/{stored}/$convert-unit", params={"unit": unit}).json()
        assert Decimal(str(view["valueQuantity"]["value"])) == Decimal(value), unit
        assert view["code"]["coding"][0]["code"] == "14682-9"
        for extension in view.get("extension", ()):
            if extension["url"] == ORIGINAL_DATA:
                [code] = [e for e in extension["extension"] if e["url"] == "original-code"]
                assert code["valueCodeableConcept"]["coding"][0]["code"] == "14682-9"


def test_convert_unit_or_say_why_not(loaded: Api) -> None:
    [first, _] = matches(get_series(loaded, MOREL, "718-7", unit="g/L"))
    done = loaded.http.get(f"/Observation/{first['id']}/$convert-unit", params={"unit": "g/dL"})
    assert done.status_code == 200
    assert Decimal(str(done.json()["valueQuantity"]["value"])) == Decimal("13.2")
    assert converted(done.json())
    si = loaded.http.get(f"/Observation/{first['id']}/$convert-unit", params={"unit-system": "SI"})
    assert si.status_code == 200 and si.json()["id"] == first["id"]  # already g/L
    for params, reason in [
        ({"unit": "croix"}, "not a UCUM unit"),
        ({"unit": "mmol/L"}, "no conversion factor"),
        ({"unit": "g"}, "no conversion factor"),
        ({"unit": "s"}, "measure different things"),
    ]:
        refused = loaded.http.get(f"/Observation/{first['id']}/$convert-unit", params=params)
        assert refused.status_code == 422, refused.text
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert reason in outcome["issue"][0]["diagnostics"]
    assert loaded.http.get("/Observation/nope/$convert-unit?unit=g/L").status_code == 404
    assert loaded.http.get(f"/Observation/{first['id']}/$convert-unit").status_code == 400


def test_series_parameters_are_checked(loaded: Api) -> None:
    for params in (
        {"code": f"{LOINC}|718-7"},
        {"patient": "x", "code": f"{LOINC}|718-7", "unit-system": "metric"},
        {"patient": "x", "code": f"{LOINC}|718-7", "unit": "croix"},
        {"patient": "x", "code": f"{LOINC}|718-7", "date": "yesterday"},
    ):
        answer = loaded.http.get("/Observation/$series", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["resourceType"] == "OperationOutcome"
    twice = loaded.http.get(
        "/Observation/$series",
        params=[("patient", "x"), ("code", f"{LOINC}|718-7"), ("unit", "g/L"), ("unit", "g/dL")],
    )
    assert twice.status_code == 400 and "unit is given more than once" in twice.text
    # a UCUM unit none of the results can be shown in: 422, not every result in its own
    patient = patient_id(loaded, ROUSSEL)
    answer = loaded.http.get(
        "/Observation/$series",
        params={"patient": patient, "code": f"{LOINC}|40193-5", "unit": "kg"},
    )
    assert answer.status_code == 422, answer.text
    assert "none of the 2 results can be shown in kg" in answer.json()["issue"][0]["diagnostics"]


def test_lastn_over_http(loaded: Api) -> None:
    answer = loaded.http.get(
        "/Observation/$lastn",
        params={"patient": patient_id(loaded, GARNIER), "code": f"{LOINC}|40193-5", "max": "5"},
    )
    assert answer.status_code == 200
    dates = [e["resource"]["effectiveDateTime"][:10] for e in answer.json()["entry"]]
    assert dates == ["2025-03-12", "2025-01-28"]  # most recent first; replaced results gone
    assert loaded.http.get("/Observation/$lastn?category=laboratory").status_code == 400


def test_definitions_and_the_jdv_are_read_over_rest(loaded: Api) -> None:
    statement = loaded.http.get("/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    operations = {o["name"]: o["definition"] for o in by_type["Observation"]["operation"]}
    assert set(operations) == {"series", "lastn", "convert-unit"}
    systems = {e["valueUri"] for e in statement["extension"]}
    assert VERDICT_SYSTEM in systems and VIEW_SYSTEM in systems
    for url in (operations["series"], operations["convert-unit"]):
        found = loaded.http.get("/OperationDefinition", params={"url": url}).json()
        assert found["entry"][0]["resource"]["url"] == url
    verdicts = loaded.http.get(f"/CodeSystem/{VERDICT_SYSTEM.rsplit('/', 1)[1]}").json()
    codes = {c["code"] for c in verdicts["concept"]}
    assert {"comparable", "level-2", "level-9", "local-code", "no-code-system"} <= codes
    jdv = loaded.http.get(
        "/ConceptMap",
        params={
            "url": "https://crbio-bridge.org/fhir/ConceptMap/jdv-circuit-biologie",
            "version": "seed",
        },
    ).json()
    [conceptmap] = [e["resource"] for e in jdv["entry"]]
    assert loaded.http.get(f"/ConceptMap/{conceptmap['id']}").json()["version"] == "seed"
    supplement = loaded.http.get(
        "/CodeSystem",
        params={"url": "https://crbio-bridge.org/fhir/CodeSystem/jdv-circuit-biologie"},
    ).json()
    assert supplement["entry"][0]["resource"]["content"] == "supplement"


def test_the_operations_are_in_the_openapi_document(loaded: Api) -> None:
    paths = loaded.http.get(f"{loaded.url}/openapi.json").json()["paths"]
    series = paths["/fhir/Observation/$series"]["get"]
    assert {p["name"] for p in series["parameters"]} >= {
        "patient",
        "code",
        "unit",
        "unit-system",
        "date",
    }
    assert {"200", "400"} <= set(series["responses"]) and series["summary"]
    convert = paths["/fhir/Observation/{observation_id}/$convert-unit"]["get"]
    assert "422" in convert["responses"]
    assert "/fhir/Observation/$lastn" in paths


# With the public ANS pairs ----------------------------------------------------------

CORPUS_PAIRS = {
    "09.01": ("Glycemie_mmol_par_Litre_1", "Glycemie_g_par_Litre_2"),
    "09.02": ("Folates_ug_par_Litre_1", "Folates_nmol_par_Litre_2"),
    "09.03": ("TSH_1", "TSH_2"),
}
CORPUS_INS = "279035121518989"  # one test patient in every ANS example


@pytest.fixture
def corpus_api(api: Api, corpus: Path) -> Api:
    for first, second in CORPUS_PAIRS.values():
        for name in (first, second):
            path = corpus / f"BIO-CR-BIO_2024.01_{name}.xml"
            if not path.is_file():
                pytest.skip(f"{path.name} is not in the corpus")
            api.ingest(path)
    return api


def test_segur_scenarios_with_the_ans_pairs(corpus_api: Api) -> None:
    moles = get_series(corpus_api, CORPUS_INS, "40193-5")
    assert values(moles) == [(Decimal("5.3"), "mmol/L"), (Decimal("5.27"), "mmol/L")]
    assert severities(moles) == {"information"}
    mass = get_series(corpus_api, CORPUS_INS, "53049-3")
    assert values(mass) == [(Decimal("0.954"), "g/L"), (Decimal("0.95"), "g/L")]

    folates = get_series(corpus_api, CORPUS_INS, "2284-8", unit="nmol/L")
    assert values(folates) == [(Decimal("56.7"), "nmol/L"), (Decimal("57"), "nmol/L")]
    assert severities(folates) == {"warning"}

    # the ANS TSH pair codes TSH with two LOINC codes the webinar's extract does not list:
    # asked together they are one series, and never comparable on the code alone
    tsh = get_series(corpus_api, CORPUS_INS, "3016-3", "29575-8")
    assert values(tsh) == [(Decimal("1.95"), "m[IU]/L")] * 2
    assert severities(tsh) == {"warning"}


def test_own_documents_are_where_the_tests_expect_them() -> None:
    names = {p.name for p in EXAMPLES.glob("segur-*.xml")}
    assert len(names) == 8 and (EXAMPLES / "glucose-two-units.xml").is_file()


def test_units_beyond_laboratory_scales_or_arbitrary_are_refused_not_converted(
    loaded: Api,
) -> None:
    """10*-28.g/L made a decimal overflow (500), 10*400.g/L converted 0.95 g/L to 0, and
    g.[IU]/L took 0.95 g/L for 0.95 g.[IU]/L: each is a 422 now; a value-quantity search
    or a stored result in such a unit is answered, never a 500."""
    patient = patient_id(loaded, ROUSSEL)
    [result] = [
        o
        for o in matches(get_series(loaded, ROUSSEL, "53049-3", unit="g/L"))
        if o["valueQuantity"]["code"] == "g/L" and o.get("id")
    ][:1]
    for unit in ("10*-28.g/L", "10*400.g/L", "10*-100.g/L", "g.[IU]/L", "g.[arb'U]/L"):
        answer = loaded.http.get(
            f"/Observation/{result['id']}/$convert-unit", params={"unit": unit}
        )
        assert answer.status_code == 422, (unit, answer.text)
        series = loaded.http.get(
            "/Observation/$series",
            params={"patient": patient, "code": f"{LOINC}|53049-3", "unit": unit},
        )
        assert series.status_code == 422, (unit, series.text)
    for path, params in (
        ("/Observation", {"value-quantity": "5|http://unitsofmeasure.org|10*400.g/L"}),
        (
            "/Observation/$lastn",
            {
                "patient": patient,
                "category": "laboratory",
                "value-quantity": "5|http://unitsofmeasure.org|10*400.g/L",
            },
        ),
    ):
        assert loaded.http.get(path, params=params).status_code == 200, path
    written = loaded.http.put(
        "/Observation/huge-unit",
        json={
            "resourceType": "Observation",
            "id": "huge-unit",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "2345-7"}]},
            "valueQuantity": {
                "value": 5,
                "unit": "10*400.g/L",
                "system": "http://unitsofmeasure.org",
                "code": "10*400.g/L",
            },
        },
        headers={"Content-Type": "application/fhir+json"},
    )
    assert written.status_code == 201, written.text
    assert loaded.http.delete("/Observation/huge-unit").status_code in (200, 204)  # read-only
