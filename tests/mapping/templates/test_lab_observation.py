"""FR-Resultat-examens-de-biologie-element-clinique-pertinent → Observation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.builders import GLUCOSE_CODE, convert_document, result
from tests.helpers import by_reference, resources_of, roundtrip


def observations(*entries: str) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any]]:
    conversion = convert_document(*entries)
    bundle = roundtrip(conversion)
    return resources_of(bundle, "Observation"), bundle, list(conversion.issues)


@pytest.mark.parametrize(
    ("status", "fhir"),
    [
        ("completed", "final"),
        ("active", "registered"),
        ("aborted", "cancelled"),
        ("obsolete", "cancelled"),
    ],
)
def test_status(status: str, fhir: str) -> None:
    [obs], _, _ = observations(result(status=status))
    assert obs["status"] == fhir


def test_obsolete_result_says_it_was_replaced_and_shows_no_current_value() -> None:
    [obs], _, _ = observations(result(status="obsolete"))
    assert obs["note"] == [
        {"text": "replaced by another examination (CDA statusCode obsolete)"},
        {"text": "value reported but withdrawn (obsolete): 5.30 mmol/L"},
    ]
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["text"] == "replaced by another examination"


@pytest.mark.parametrize(
    "written", ["1e300", "cinq", "12345678901234567890.5"], ids=["huge", "word", "digits"]
)
def test_an_unreadable_value_is_an_absent_value_with_its_reason(written: str) -> None:
    """Never a result that silently has no value: dataAbsentReason error, and the issue."""
    [obs], _, issues = observations(result(f'<value xsi:type="PQ" value="{written}" unit="g/L"/>'))
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "error"
    assert "invalid-number" in [i.code for i in issues]


def test_aborted_result_with_a_value_shows_no_current_value() -> None:
    [obs], _, _ = observations(result(status="aborted"))
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    assert obs["note"] == [{"text": "value reported but withdrawn (aborted): 5.30 mmol/L"}]


def test_aborted_result_without_value_was_not_performed() -> None:
    [obs], _, _ = observations(result("", status="aborted"))
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "not-performed"


def test_unknown_status_is_reported() -> None:
    [obs], _, issues = observations(result(status="held"))
    assert obs["status"] == "unknown"
    assert [i.code for i in issues] == ["status-unknown"]


def test_loinc_code_first_with_original_text() -> None:
    code = (
        '<code code="LOC-1" codeSystem="1.2.3.4.5" displayName="Glycémie labo">'
        '<originalText><reference value="#label-1"/></originalText>'
        '<translation code="40193-5" codeSystem="2.16.840.1.113883.6.1" '
        'displayName="Glucose à jeun"/></code>'
    )
    [obs], _, issues = observations(result(code=code))
    assert [c["code"] for c in obs["code"]["coding"]] == ["40193-5", "LOC-1"]
    assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
    assert obs["code"]["text"] == "Glucose à jeun"
    assert issues == []


def test_local_only_code_is_kept_with_a_warning() -> None:
    code = (
        '<code><originalText><reference value="#label-1"/></originalText>'
        '<translation code="1234" codeSystem="1.2.250.1.2.3.4" displayName="CRP"/></code>'
    )
    [obs], _, issues = observations(result(code=code))
    assert obs["code"] == {
        "coding": [{"system": "urn:oid:1.2.250.1.2.3.4", "code": "1234", "display": "CRP"}],
        "text": "Glucose à jeun",
    }
    assert [i.code for i in issues] == ["loinc-absent"]


def test_a_missing_narrative_target_is_ignored_for_the_display_name() -> None:
    code = GLUCOSE_CODE.replace("#label-1", "#nowhere")
    [obs], _, issues = observations(result(code=code))
    assert obs["code"]["text"] == "Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique"
    assert [i.code for i in issues] == ["narrative-reference-missing"]


def test_a_wrong_loinc_check_digit_is_reported() -> None:
    code = GLUCOSE_CODE.replace("40193-5", "53094-5")
    _, _, issues = observations(result(code=code))
    assert [i.code for i in issues] == ["loinc-check-digit"]


def test_effective_time_interpretation_and_method() -> None:
    rest = (
        '<interpretationCode code="H" codeSystem="2.16.840.1.113883.5.83"/>'
        '<methodCode code="DEG" codeSystem="1.2.250.1.213.2.3.5" '
        'displayName="Spectrophotométrie enzyme/vis Glucose oxydase"/>'
    )
    [obs], _, _ = observations(result(rest=rest))
    assert obs["effectiveDateTime"] == "2025-03-12T08:15:00+01:00"
    assert obs["interpretation"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": "H",
                    "display": "High",
                }
            ]
        }
    ]
    assert obs["method"]["coding"][0]["system"] == "https://smt.esante.gouv.fr/terminologie-tccr"


def test_interpretation_outside_the_value_set_is_kept() -> None:
    rest = '<interpretationCode code="ZZ" codeSystem="2.16.840.1.113883.5.83"/>'
    [obs], _, issues = observations(result(rest=rest))
    assert obs["interpretation"][0]["coding"][0]["code"] == "ZZ"
    assert [i.code for i in issues] == ["interpretation-outside-value-set"]


def test_category_laboratory_and_chapter() -> None:
    [obs], _, _ = observations(result())
    assert [c["coding"][0]["code"] for c in obs["category"]] == ["laboratory", "18719-5"]


def test_subject_performer_and_issued_come_from_the_header() -> None:
    [obs], bundle, _ = observations(result())
    patient = by_reference(bundle, obs["subject"])
    assert patient["resourceType"] == "Patient"
    assert {by_reference(bundle, p)["resourceType"] for p in obs["performer"]} == {
        "PractitionerRole",
        "Organization",
    }
    assert obs["issued"] == "2025-03-12T10:15:00+01:00"


def test_validating_biologist_and_time_on_the_act() -> None:
    validator = (
        '<participant typeCode="AUTHEN"><templateId root="1.3.6.1.4.1.19376.1.3.3.1.5"/>'
        '<time><high value="202503121130+0100"/></time><participantRole>'
        '<id root="1.2.250.1.71.4.2.1" extension="810000000099"/><playingEntity><name>'
        "<given>Léa</given><family>VALIDE</family></name></playingEntity>"
        "</participantRole></participant>"
    )
    [obs], bundle, _ = observations(validator + result())
    assert obs["issued"] == "2025-03-12T11:30:00+01:00"
    names = [
        by_reference(bundle, p).get("practitioner", {}).get("display") for p in obs["performer"]
    ]
    assert "Léa VALIDE" in names


def test_second_unit_is_a_component_with_the_jdv_correspondence() -> None:
    value = (
        '<value xsi:type="PQ" value="6.2" unit="mmol/L"><translation value="1.12" '
        'code="g/L"/></value>'
    )
    rest = (
        '<referenceRange><observationRange><value xsi:type="IVL_PQ">'
        '<low value="3.9" unit="mmol/L"><translation value="0.70" code="g/L"/></low>'
        '<high value="6.1" unit="mmol/L"><translation value="1.10" code="g/L"/></high>'
        "</value></observationRange></referenceRange>"
    )
    [obs], _, _ = observations(result(value, rest=rest))
    assert obs["valueQuantity"]["value"] == Decimal("6.2")
    [component] = obs["component"]
    assert component["code"]["coding"] == [
        {
            "system": "http://loinc.org",
            "code": "53049-3",
            "display": "Glucose à jeun [Masse/Volume] Sérum/Plasma ; Numérique",
        }
    ]
    assert component["valueQuantity"] == {
        "value": Decimal("1.12"),
        "unit": "g/L",
        "system": "http://unitsofmeasure.org",
        "code": "g/L",
    }
    [rr] = component["referenceRange"]
    assert (rr["low"]["value"], rr["high"]["value"]) == (Decimal("0.70"), Decimal("1.10"))
    assert obs["referenceRange"][0]["low"]["value"] == Decimal("3.9")


def test_second_unit_without_correspondence_is_coded_by_text() -> None:
    code = (
        '<code code="22664-7" codeSystem="2.16.840.1.113883.6.1" '
        'displayName="Urée [Moles/Volume] Sérum/Plasma ; Numérique"/>'
    )
    value = (
        '<value xsi:type="PQ" value="10.02" unit="mmol/L"><translation value="0.60" code="g/L"/>'
        "</value>"
    )
    [obs], _, issues = observations(result(value, code=code))
    [component] = obs["component"]
    assert component["code"] == {"text": "Urée [Moles/Volume] Sérum/Plasma ; Numérique (g/L)"}
    assert component["valueQuantity"]["value"] == Decimal("0.60")
    assert [i.code for i in issues] == ["second-unit-uncoded"]


def test_earlier_results_are_contained_never_current() -> None:
    earlier = (
        '<entryRelationship typeCode="REFR"><observation classCode="OBS" moodCode="EVN">'
        + GLUCOSE_CODE
        + '<statusCode code="completed"/>'
        '<effectiveTime value="20240912081500+0100"/>'
        '<value xsi:type="PQ" value="5.0" unit="mmol/L"/></observation></entryRelationship>'
    )
    [obs], bundle, _ = observations(result(rest=earlier))
    [previous] = obs["contained"]
    assert previous["effectiveDateTime"] == "2024-09-12T08:15:00+01:00"
    assert previous["valueQuantity"]["value"] == Decimal("5.0")
    assert obs["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo",
            "valueReference": {"reference": "#earlier-1", "display": "earlier result"},
        }
    ]
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["result"] == [{"reference": f"urn:uuid:{obs['id']}"}]


def _earlier(time: str, value: str) -> str:
    return (
        '<observation classCode="OBS" moodCode="EVN">'
        + GLUCOSE_CODE
        + f'<statusCode code="completed"/><effectiveTime value="{time}"/>'
        f'<value xsi:type="PQ" value="{value}" unit="mmol/L"/></observation>'
    )


def test_an_organizer_of_earlier_results_gives_earlier_results_never_current_ones() -> None:
    organizer = (
        '<entryRelationship typeCode="REFR"><organizer classCode="CLUSTER" moodCode="EVN">'
        '<statusCode code="completed"/>'
        f"<component>{_earlier('20240912081500+0100', '5.0')}</component>"
        f"<component>{_earlier('20240310081500+0100', '4.8')}</component>"
        "</organizer></entryRelationship>"
    )
    [obs], bundle, _ = observations(result(rest=organizer))
    assert [c["valueQuantity"]["value"] for c in obs["contained"]] == [
        Decimal("5.0"),
        Decimal("4.8"),
    ]
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["result"] == [{"reference": f"urn:uuid:{obs['id']}"}]


def test_a_refr_to_an_act_is_reported_not_read_as_a_result() -> None:
    act = (
        '<entryRelationship typeCode="REFR"><act classCode="ACT" moodCode="EVN">'
        '<code code="26436-6" codeSystem="2.16.840.1.113883.6.1"/>'
        '<statusCode code="completed"/></act></entryRelationship>'
    )
    [obs], _, issues = observations(result(rest=act))
    assert "contained" not in obs
    [issue] = [i for i in issues if i.code == "entry-not-shown"]
    assert "<act>" in issue.message and "REFR" in issue.message


def test_an_earlier_result_under_the_act_is_never_a_current_result() -> None:
    misplaced = (
        f'<entryRelationship typeCode="REFR">{_earlier("20240912081500+0100", "5.0")}'
        "</entryRelationship>"
    )
    found, bundle, issues = observations(result(), misplaced)
    assert len(found) == 1 and found[0]["valueQuantity"]["value"] == Decimal("5.30")
    [issue] = [i for i in issues if i.code == "entry-not-shown"]
    assert "outside a result" in issue.message


def test_a_result_nested_in_a_result_is_mapped_next_to_it_with_a_warning() -> None:
    inner = result(
        '<value xsi:type="PQ" value="1.01" unit="g/L"/>',
        code='<code code="53049-3" codeSystem="2.16.840.1.113883.6.1" '
        'displayName="Glucose à jeun [Masse/Volume] Sérum/Plasma ; Numérique"/>',
    )
    found, bundle, issues = observations(result(rest=inner))
    assert sorted(o["code"]["coding"][0]["code"] for o in found) == ["40193-5", "53049-3"]
    [report] = resources_of(bundle, "DiagnosticReport")
    assert len(report["result"]) == 2
    assert [i.code for i in issues].count("result-nested") == 1


def test_comments_become_notes() -> None:
    comment = (
        '<entryRelationship typeCode="SUBJ"><act classCode="ACT" moodCode="EVN">'
        '<templateId root="1.2.250.1.213.1.1.3.32"/><code code="48767-8" '
        'codeSystem="2.16.840.1.113883.6.1"/><text><reference value="#label-2"/></text>'
        '<statusCode code="completed"/></act></entryRelationship>'
    )
    [obs], _, _ = observations(result(rest=comment))
    assert obs["note"] == [{"text": "Second"}]


def test_specimen_of_the_act_is_referenced() -> None:
    specimen = (
        '<entryRelationship typeCode="COMP"><procedure classCode="PROC" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.3.1.2"/><templateId '
        'root="1.2.250.1.213.1.1.3.77"/><effectiveTime><high value="202503120735+0100"/>'
        '</effectiveTime><participant typeCode="PRD"><participantRole classCode="SPEC">'
        '<id root="1.2.3.9" extension="TUBE-1"/><playingEntity><code code="BLD" '
        'codeSystem="2.16.840.1.113883.18.311" displayName="Sang total"/></playingEntity>'
        "</participantRole></participant></procedure></entryRelationship>"
    )
    [obs], bundle, _ = observations(specimen + result())
    tube = by_reference(bundle, obs["specimen"])
    assert tube["type"]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v2-0487"
    assert tube["collection"]["collectedDateTime"] == "2025-03-12T07:35:00+01:00"
    assert tube["identifier"][0]["value"] == "TUBE-1"
    [report] = resources_of(bundle, "DiagnosticReport")
    assert report["specimen"] == [obs["specimen"]]
    assert report["effectiveDateTime"] == "2025-03-12T07:35:00+01:00"


def test_a_bad_collection_time_is_reported_once() -> None:
    """The specimen's time is read for the Specimen and for the results it covers; an
    impossible time is one issue, not one per reading."""
    specimen = (
        '<entryRelationship typeCode="COMP"><procedure classCode="PROC" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.3.1.2"/><templateId '
        'root="1.2.250.1.213.1.1.3.77"/><effectiveTime value="202513120735+0100"/>'
        '<participant typeCode="PRD"><participantRole classCode="SPEC">'
        '<id root="1.2.3.9" extension="TUBE-1"/></participantRole></participant>'
        "</procedure></entryRelationship>"
    )
    [obs], bundle, issues = observations(specimen + result())
    assert obs["effectiveDateTime"] == "2025-03-12T08:15:00+01:00"  # the result's own time
    assert "collection" not in by_reference(bundle, obs["specimen"])
    bad = [i for i in issues if i.input == "202513120735+0100"]
    assert len(bad) == 1, bad
