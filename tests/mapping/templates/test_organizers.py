"""Batteries (panels with hasMember) and microbiology isolates with their antibiogram."""

from __future__ import annotations

from typing import Any

from tests.builders import convert_document, result
from tests.helpers import by_reference, convert_example, resources_of, roundtrip


def battery(
    *components: str,
    code: str = '<code code="58410-2" '
    'codeSystem="2.16.840.1.113883.6.1" displayName="Hémogramme"/>',
) -> str:
    inner = "".join(f"<component>{c}</component>" for c in components)
    return (
        '<entryRelationship typeCode="COMP"><organizer classCode="BATTERY" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.3.1.4"/><templateId '
        f'root="1.2.250.1.213.1.1.3.78"/>{code}<statusCode code="completed"/>{inner}'
        "</organizer></entryRelationship>"
    )


def as_component(entry_relationship: str) -> str:
    """A result written as an organizer component instead of an entryRelationship."""
    return entry_relationship.replace('<entryRelationship typeCode="COMP">', "").replace(
        "</entryRelationship>", ""
    )


def test_battery_is_a_panel_with_members_in_order() -> None:
    members = [as_component(result(time=f"2025031208{m:02d}00+0100")) for m in range(3)]
    bundle = roundtrip(convert_document(battery(*members)))
    [report] = resources_of(bundle, "DiagnosticReport")
    [panel_ref] = report["result"]
    panel = by_reference(bundle, panel_ref)
    assert panel["code"]["coding"][0]["code"] == "58410-2"
    assert [by_reference(bundle, m)["effectiveDateTime"] for m in panel["hasMember"]] == [
        "2025-03-12T08:00:00+01:00",
        "2025-03-12T08:01:00+01:00",
        "2025-03-12T08:02:00+01:00",
    ]


def test_nested_batteries_keep_their_depth() -> None:
    inner = battery(
        as_component(result()),
        code='<code code="24351-9" '
        'codeSystem="2.16.840.1.113883.6.1" displayName="Électrophorèse"/>',
    )
    bundle = roundtrip(convert_document(battery(as_component(inner))))
    [report] = resources_of(bundle, "DiagnosticReport")
    outer = by_reference(bundle, report["result"][0])
    middle = by_reference(bundle, outer["hasMember"][0])
    leaf = by_reference(bundle, middle["hasMember"][0])
    assert middle["code"]["coding"][0]["code"] == "24351-9"
    assert "valueQuantity" in leaf and "hasMember" not in leaf


def test_battery_without_loinc_is_not_a_warning() -> None:
    code = (
        '<code><translation code="107" codeSystem="2.16.840.1.113883.5.84" '
        'displayName="Microscopie"/></code>'
    )
    conversion = convert_document(battery(as_component(result()), code=code))
    assert [i.code for i in conversion.issues] == []


def isolate_example() -> tuple[dict[str, Any], dict[str, Any]]:
    _, bundle = convert_example("urine-culture-antibiogram.xml")
    [organism] = [
        o
        for o in resources_of(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == "11475-1"
    ]
    return bundle, organism


def test_isolate_carries_the_organism_as_value() -> None:
    _, organism = isolate_example()
    assert organism["code"]["text"] == "Micro-organisme identifié"  # a label in French
    assert organism["valueCodeableConcept"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "112283007",
        "display": "Escherichia coli",
    }


def test_isolate_has_an_isolate_specimen_from_the_urine() -> None:
    bundle, organism = isolate_example()
    specimen = by_reference(bundle, organism["specimen"])
    assert specimen["type"]["coding"][0]["code"] == "119303007"
    urine = by_reference(bundle, specimen["parent"][0])
    assert urine["type"]["coding"][0]["code"] == "UR"


def test_antibiogram_is_a_member_of_the_isolate_with_sir_interpretations() -> None:
    bundle, organism = isolate_example()
    members = [by_reference(bundle, m) for m in organism["hasMember"]]
    [antibiogram] = [m for m in members if m["code"]["coding"][0]["code"] == "18769-0"]
    drugs = [by_reference(bundle, m) for m in antibiogram["hasMember"]]
    assert {d["interpretation"][0]["coding"][0]["code"] for d in drugs} == {"S", "I", "R"}
    assert {d["valueQuantity"].get("comparator") for d in drugs} == {">=", "<=", "<", None}
    assert all(d["specimen"] == organism["specimen"] for d in drugs)
