"""$convert, $ingest (idempotent, all or nothing, RPLC), $translate and $lookup over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.terminology import TerminologyService
from bridge.terminology.service import SYNCED_VALUE_SETS
from tests.api.conftest import CDA, FHIR, Api
from tests.helpers import EXAMPLES, example_files

LOINC = "http://loinc.org"
FIRST = EXAMPLES / "glucose-two-units.xml"
REPLACEMENT = EXAMPLES / "glucose-replacement.xml"  # RPLC of glucose-two-units.xml


def _counts(api: Api) -> dict[str, int]:
    return {
        t: api.http.get(f"/{t}", params={"_summary": "count"}).json()["total"]
        for t in (
            "Patient",
            "Observation",
            "DiagnosticReport",
            "DocumentReference",
            "Binary",
            "Provenance",
        )
    }


def test_convert_returns_the_bundle_and_stores_nothing(api: Api) -> None:
    response = api.http.post("/$convert", content=FIRST.read_bytes(), headers=CDA)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"DiagnosticReport", "Observation", "Patient", "DocumentReference"} <= kinds
    assert set(_counts(api).values()) == {0}


def test_convert_uses_the_synced_displays_as_the_cli_does(api: Api) -> None:
    """A code written without displayName gets the French display of the synced value
    set, on the API as in `crbio batch` and `crbio serve --ingest`."""
    interpretation = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    api.store.put_resource(
        {
            "resourceType": "ValueSet",
            "url": SYNCED_VALUE_SETS[1],
            "version": "expansion",
            "status": "active",
            "expansion": {
                "contains": [{"system": interpretation, "code": "N", "display": "Normal (du SMT)"}]
            },
        }
    )
    written = FIRST.read_text(encoding="utf-8")
    assert 'code="N" displayName="Normal"' in written
    data = written.replace('code="N" displayName="Normal"', 'code="N"').encode("utf-8")
    response = api.http.post("/$convert", content=data, headers=CDA)
    assert response.status_code == 200
    codings = [
        coding
        for entry in response.json()["entry"]
        for concept in entry["resource"].get("interpretation", ())
        for coding in concept["coding"]
    ]
    assert codings and all(c["display"] == "Normal (du SMT)" for c in codings)
    service = TerminologyService(api.store)
    assert service.conversion_options()["displays"][(interpretation, "N")] == "Normal (du SMT)"


def test_ingest_stores_everything_once_and_says_when_nothing_changed(api: Api) -> None:
    first = api.ingest(FIRST)
    assert first.headers["x-crbio-changed"] == "true"
    answer = first.json()
    assert answer["type"] == "transaction-response"
    assert {e["response"]["status"] for e in answer["entry"]} == {"201 Created"}
    stored = _counts(api)
    assert stored["Observation"] > 0 and stored["DiagnosticReport"] == 1

    again = api.ingest(FIRST)
    assert again.headers["x-crbio-changed"] == "false"
    assert {e["response"]["status"] for e in again.json()["entry"]} == {"200 OK"}
    assert all(
        "unchanged" in e["response"]["outcome"]["issue"][0]["diagnostics"]
        for e in again.json()["entry"]
    )
    assert _counts(api) == stored
    patient = api.http.get("/Patient").json()["entry"][0]["resource"]
    assert patient["meta"]["versionId"] == "1"


@pytest.mark.parametrize("order", ["in order", "replacement first"])
def test_a_replaced_report_leaves_current_results_but_stays_in_history(
    api: Api, order: str
) -> None:
    documents = [FIRST, REPLACEMENT] if order == "in order" else [REPLACEMENT, FIRST]
    for path in documents:
        api.ingest(path)
    reports = api.http.get("/DiagnosticReport").json()["entry"]
    [current] = [e["resource"] for e in reports]
    assert current["identifier"][0]["value"] == "urn:oid:1.2.250.1.213.1.1.9.999.1.2"

    documents_refs = {
        e["resource"]["masterIdentifier"]["value"]: e["resource"]["status"]
        for e in api.http.get("/DocumentReference").json()["entry"]
    }
    assert documents_refs == {
        "urn:oid:1.2.250.1.213.1.1.9.999.1.1": "superseded",
        "urn:oid:1.2.250.1.213.1.1.9.999.1.2": "current",
    }

    replaced = _replaced_report_id(api)
    gone = api.http.get(f"/DiagnosticReport/{replaced}")
    assert gone.status_code == 410
    history = api.http.get(f"/DiagnosticReport/{replaced}/_history").json()
    assert history["entry"][0]["request"]["method"] == "DELETE"
    kept = [e["resource"] for e in history["entry"] if "resource" in e]
    assert kept and kept[0]["result"], "the replaced report, as it was, with its results"
    for reference in kept[0]["result"]:
        assert api.http.get(f"/{reference['reference']}").status_code == 410
        versions = api.http.get(f"/{reference['reference']}/_history").json()["entry"]
        assert any("resource" in v for v in versions)


def _replaced_report_id(api: Api) -> str:
    from bridge.mapping import convert

    bundle = convert(FIRST.read_bytes()).bundle
    return next(
        e["resource"]["id"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )


BAD_DOCUMENTS = [
    (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>", 400, "structure"),
    (b"<html/>", 422, "not-supported"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", 400, "security"),
]


@pytest.mark.parametrize(
    ("data", "status", "issue_type"), BAD_DOCUMENTS, ids=["truncated", "not-cda", "entity"]
)
def test_bad_documents_are_refused_and_nothing_stored_is_touched(
    api: Api, data: bytes, status: int, issue_type: str
) -> None:
    api.ingest(FIRST)
    before = _counts(api)
    for operation in ("$ingest", "$convert"):
        response = api.http.post(f"/{operation}", content=data, headers=CDA)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/fhir+json")
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == issue_type
        assert outcome["issue"][0]["diagnostics"]
    assert _counts(api) == before


def test_every_example_ingests(api: Api) -> None:
    for path in example_files():
        api.ingest(path)
    counts = _counts(api)
    assert counts["DocumentReference"] == len(example_files())
    assert counts["DiagnosticReport"] == len(example_files()) - 1  # one replaced (RPLC)


# Terminology --------------------------------------------------------------------------


def _parameter(parameters: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in parameters["parameter"] if p["name"] == name]


def test_translate_from_the_jdv_by_get_and_post(api: Api) -> None:
    by_get = api.http.get(
        "/ConceptMap/$translate", params={"system": LOINC, "code": "14749-6", "targetsystem": LOINC}
    )
    assert by_get.status_code == 200
    assert by_get.headers["x-crbio-origin"] == "local"
    answer = by_get.json()
    assert _parameter(answer, "result")[0]["valueBoolean"] is True
    by_post = api.http.post(
        "/ConceptMap/$translate",
        headers=FHIR,
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "system", "valueUri": LOINC},
                {"name": "code", "valueCode": "14749-6"},
                {"name": "targetsystem", "valueUri": LOINC},
            ],
        },
    )
    assert by_post.json() == answer


def test_lookup_gives_french_display(api: Api) -> None:
    response = api.http.get("/CodeSystem/$lookup", params={"system": LOINC, "code": "14749-6"})
    assert response.status_code == 200
    display = _parameter(response.json(), "display")[0]["valueString"]
    assert "lucose" in display


def _local_codes(target: str) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "url": "https://example.org/fhir/ConceptMap/local-codes",
        "version": "1",
        "status": "active",
        "group": [
            {
                "source": "https://example.org/lab-codes",
                "target": LOINC,
                "element": [
                    {"code": "GLY", "target": [{"code": target, "equivalence": "equivalent"}]}
                ],
            }
        ],
    }


def _translate_local_code(api: Api) -> httpx.Response:
    return api.http.get(
        "/ConceptMap/$translate",
        params={
            "url": "https://example.org/fhir/ConceptMap/local-codes",
            "system": "https://example.org/lab-codes",
            "code": "GLY",
        },
    )


def _translated_to(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [
        part["valueCoding"]["code"]
        for match in _parameter(response.json(), "match")
        for part in match["part"]
        if part["name"] == "concept"
    ]


def test_a_conceptmap_written_to_the_server_answers_translate(api: Api) -> None:
    conceptmap = _local_codes("14749-6")
    created = api.http.post("/ConceptMap", json=conceptmap, headers=FHIR)
    assert created.status_code == 201
    read = api.http.get(f"/ConceptMap/{created.json()['id']}").json()
    assert read["url"] == conceptmap["url"]
    answer = _translate_local_code(api)
    [match] = _parameter(answer.json(), "match")
    concept = next(p for p in match["part"] if p["name"] == "concept")["valueCoding"]
    assert concept == {"system": LOINC, "code": "14749-6"} | (
        {"display": concept["display"]} if "display" in concept else {}
    )


def test_a_conceptmap_updated_or_deleted_answers_as_it_now_is(api: Api) -> None:
    """$translate reads the stored ConceptMap: an update changes its answer at once, and a
    deleted map answers no more (here: no SMT to ask instead, 503)."""
    created = api.http.post("/ConceptMap", json=_local_codes("14749-6"), headers=FHIR)
    map_id = created.json()["id"]
    assert _translated_to(_translate_local_code(api)) == ["14749-6"]
    updated = api.http.put(
        f"/ConceptMap/{map_id}", json={**_local_codes("2345-7"), "id": map_id}, headers=FHIR
    )
    assert updated.status_code == 200
    assert _translated_to(_translate_local_code(api)) == ["2345-7"]
    assert api.http.delete(f"/ConceptMap/{map_id}").status_code == 204
    assert _translate_local_code(api).status_code == 503


def test_a_conceptmap_whose_batch_entry_failed_answers_nothing(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {  # fails on its own: there is no version 7 to update
                "resource": {**_local_codes("14749-6"), "id": "local-codes"},
                "request": {"method": "PUT", "url": "ConceptMap/local-codes", "ifMatch": 'W/"7"'},
            }
        ],
    }
    response = api.http.post("", json=bundle, headers=FHIR)
    assert response.status_code == 200
    assert not response.json()["entry"][0]["response"]["status"].startswith("2")
    assert _translate_local_code(api).status_code == 503


def test_translate_beyond_the_jdv_without_smt_is_503(api: Api) -> None:
    response = api.http.get(
        "/ConceptMap/$translate", params={"system": "http://snomed.info/sct", "code": "260385009"}
    )
    assert response.status_code == 503
    assert response.json()["issue"][0]["code"] == "transient"
