"""fhirpy, a FHIR client used by integration engines, works against the bridge unchanged."""

from __future__ import annotations

import asyncio

import pytest
from fhirpy import AsyncFHIRClient, SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.api.conftest import Api

INS = "urn:oid:1.2.250.1.213.1.4.10"
LOINC = "http://loinc.org"


def test_search_the_glucose_history_of_a_patient(loaded: Api) -> None:
    client = SyncFHIRClient(loaded.base)
    patient = client.resources("Patient").search(identifier=f"{INS}|168056938321409").get()
    assert patient["name"][0]["family"] == "GARNIER"
    glucose = (
        client.resources("Observation")
        .search(patient=patient["id"], code=f"{LOINC}|40193-5")
        .sort("-date")
        .fetch()
    )
    dates = [o["effectiveDateTime"] for o in glucose]
    assert dates and dates == sorted(dates, reverse=True)
    assert all(o["valueQuantity"]["code"] == "mmol/L" for o in glucose if "valueQuantity" in o)


def test_fetch_all_follows_the_next_links(loaded: Api) -> None:
    client = SyncFHIRClient(loaded.base)
    everything = client.resources("Observation").limit(5).fetch_all()
    total = client.resources("Observation").count()
    assert len(everything) == total > 5
    assert len({o["id"] for o in everything}) == total


def test_references_resolve_to_resources(loaded: Api) -> None:
    client = SyncFHIRClient(loaded.base)
    report = client.resources("DiagnosticReport").search(_count=1).first()
    patient = report["subject"].to_resource()
    assert patient["resourceType"] == "Patient"
    results = [r.to_resource() for r in report["result"]]
    assert all(r["resourceType"] == "Observation" for r in results)


def test_include_with_fhirpy(loaded: Api) -> None:
    client = SyncFHIRClient(loaded.base)
    bundle = (
        client.resources("DiagnosticReport")
        .include("DiagnosticReport", "result")
        .limit(2)
        .fetch_raw()
    )
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {"DiagnosticReport", "Observation"}


def test_create_update_delete_with_fhirpy(api: Api) -> None:
    client = SyncFHIRClient(api.base)
    patient = client.resource(
        "Patient", name=[{"family": "Moreau", "given": ["Élise"]}], gender="female"
    )
    patient.save()
    assert patient["meta"]["versionId"] == "1"
    patient["birthDate"] = "1984-06-04"
    patient.save()
    assert patient["meta"]["versionId"] == "2"
    found = client.resources("Patient").search(family="moreau").fetch()
    assert [p["birthDate"] for p in found] == ["1984-06-04"]
    patient.delete()
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", patient["id"]).to_resource()


def test_server_refusals_surface_as_operation_outcomes(api: Api) -> None:
    client = SyncFHIRClient(api.base)
    with pytest.raises(OperationOutcome):
        client.resources("Observation").search(date="not-a-date").fetch()


def test_async_client(loaded: Api) -> None:
    async def run() -> tuple[int, int]:
        client = AsyncFHIRClient(loaded.base)
        reports = await client.resources("DiagnosticReport").fetch_all()
        counted = await client.resources("DiagnosticReport").count()
        return len(reports), counted

    fetched, counted = asyncio.run(run())
    assert fetched == counted > 0


def test_execute_translate_with_fhirpy(loaded: Api) -> None:
    client = SyncFHIRClient(loaded.base)
    answer = client.execute(
        "ConceptMap/$translate",
        method="get",
        params={"system": LOINC, "code": "14749-6", "targetsystem": LOINC},
    )
    assert answer["resourceType"] == "Parameters"
    assert answer["parameter"][0] == {"name": "result", "valueBoolean": True}
