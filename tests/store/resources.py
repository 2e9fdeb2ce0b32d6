"""Small FHIR resources for the store tests, and short ways to search and count."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bridge.store import Store, parse_query
from bridge.store.writer import INDEX_TABLES

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS = "urn:oid:1.2.250.1.213.1.4.8"
HAEMOGLOBIN = "718-7"
GLUCOSE = "40193-5"


def patient(
    resource_id: str, family: str = "GARNIER", *given: str, ins: str | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": resource_id,
        "name": [{"family": family, "given": list(given)}],
    }
    if ins:
        resource["identifier"] = [{"system": INS, "value": ins}]
    return resource


def observation(
    resource_id: str,
    *,
    code: str = HAEMOGLOBIN,
    system: str | None = LOINC,
    patient: str | None = "p1",
    date: str | None = None,
    period: dict[str, str] | None = None,
    value: str | None = None,
    unit: str | None = None,
    components: tuple[tuple[str, str, str], ...] = (),
    status: str = "final",
    text: str | None = None,
) -> dict[str, Any]:
    """An Observation; `value` and `unit` give a UCUM valueQuantity (unit None: no unit);
    each component is (LOINC code, value, unit)."""
    coding: dict[str, str] = {"code": code}
    if system:
        coding["system"] = system
    concept: dict[str, Any] = {"coding": [coding]}
    if text:
        concept["text"] = text
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": concept,
    }
    if patient:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    if date:
        resource["effectiveDateTime"] = date
    if period:
        resource["effectivePeriod"] = period
    if value is not None:
        resource["valueQuantity"] = quantity(value, unit)
    if components:
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": c}]}, "valueQuantity": quantity(v, u)}
            for c, v, u in components
        ]
    return resource


def quantity(value: str, unit: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"value": Decimal(value)}
    if unit:
        found.update(unit=unit, system=UCUM, code=unit)
    return found


def report(resource_id: str, *results: str, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": resource_id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "11502-2"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2024-11-10",
        "result": [{"reference": f"Observation/{r}"} for r in results],
    }


def search_ids(store: Store, resource_type: str, *params: tuple[str, str]) -> set[str]:
    """Ids of every match (one page, large enough for these tests)."""
    page = store.search(parse_query(resource_type, [("_count", "500"), *params]))
    assert page.next_cursor is None
    return {m.id for m in page.matches}


def ordered_ids(store: Store, resource_type: str, *params: tuple[str, str]) -> list[str]:
    page = store.search(parse_query(resource_type, [("_count", "500"), *params]))
    return [m.id for m in page.matches]


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table, and current (not deleted) resources per type: a store's footprint."""
    counts: dict[str, int] = {}
    with store.db.read() as cursor:
        for table in ("resource", "resource_history", *INDEX_TABLES):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT resource_type, COUNT(*) FROM resource WHERE NOT deleted GROUP BY resource_type"
        )
        for resource_type, count in cursor.fetchall():
            counts[resource_type] = int(count)
    return counts
