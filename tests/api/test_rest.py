"""The FHIR REST interactions over real HTTP: create, read, update, delete, history, Bundles."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import FHIR, Api

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "255081416802538"}],
    "name": [{"family": "Lefèvre", "given": ["Anne"]}],
    "gender": "female",
    "birthDate": "1955-08-14",
}


def _post(api: Api, resource: dict[str, Any], **headers: str) -> Any:
    return api.http.post(f"/{resource['resourceType']}", json=resource, headers={**FHIR, **headers})


def test_create_then_read_carries_version_etag_and_location(api: Api) -> None:
    created = _post(api, PATIENT)
    assert created.status_code == 201
    body = created.json()
    assert body["meta"]["versionId"] == "1"
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"] == f"{api.base}/Patient/{body['id']}/_history/1"
    assert created.headers["content-type"].startswith("application/fhir+json")

    read = api.http.get(f"/Patient/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"] == body["meta"]["lastUpdated"]


def test_update_with_if_match_versions_and_refuses_a_stale_version(api: Api) -> None:
    patient = _post(api, PATIENT).json()
    changed = {**patient, "gender": "other"}
    updated = api.http.put(
        f"/Patient/{patient['id']}", json=changed, headers={**FHIR, "If-Match": 'W/"1"'}
    )
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"

    stale = api.http.put(
        f"/Patient/{patient['id']}",
        json=changed | {"gender": "male"},
        headers={**FHIR, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert api.http.get(f"/Patient/{patient['id']}").json()["gender"] == "other"


def test_update_with_the_same_content_keeps_the_version(api: Api) -> None:
    patient = _post(api, PATIENT).json()
    again = api.http.put(f"/Patient/{patient['id']}", json=patient, headers=FHIR)
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "1"


def test_put_creates_with_the_clients_id(api: Api) -> None:
    response = api.http.put("/Patient/anne", json=PATIENT | {"id": "anne"}, headers=FHIR)
    assert response.status_code == 201
    assert response.json()["id"] == "anne"


def test_history_and_vread_keep_every_version_and_the_deletion(api: Api) -> None:
    patient = _post(api, PATIENT).json()
    api.http.put(f"/Patient/{patient['id']}", json={**patient, "gender": "other"}, headers=FHIR)
    assert api.http.delete(f"/Patient/{patient['id']}").status_code == 204
    assert api.http.get(f"/Patient/{patient['id']}").status_code == 410

    history = api.http.get(f"/Patient/{patient['id']}/_history").json()
    assert history["type"] == "history"
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    assert "resource" not in history["entry"][0]
    assert history["entry"][1]["resource"]["gender"] == "other"

    first = api.http.get(f"/Patient/{patient['id']}/_history/1")
    assert first.status_code == 200
    assert first.json()["gender"] == "female"
    assert api.http.get(f"/Patient/{patient['id']}/_history/9").status_code == 404


def test_conditional_create_returns_the_existing_match(api: Api) -> None:
    condition = "identifier=urn:oid:1.2.250.1.213.1.4.10|255081416802538"
    first = _post(api, PATIENT, **{"If-None-Exist": condition})
    second = _post(api, PATIENT, **{"If-None-Exist": condition})
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    total = api.http.get("/Patient", params={"_summary": "count"}).json()["total"]
    assert total == 1


def test_conditional_create_with_several_matches_is_refused(api: Api) -> None:
    _post(api, PATIENT)
    _post(api, PATIENT)
    refused = _post(api, PATIENT, **{"If-None-Exist": "family=lefevre"})
    assert refused.status_code == 412
    assert refused.json()["issue"][0]["severity"] == "error"


def test_prefer_return_minimal_sends_no_body(api: Api) -> None:
    response = _post(api, PATIENT, Prefer="return=minimal")
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].startswith(f"{api.base}/Patient/")


def test_transaction_resolves_urn_uuid_references(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c5d0f4e-7d8a-4a3e-9d0f-1b2c3d4e5f60",
                "resource": PATIENT,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                    "subject": {"reference": "urn:uuid:0c5d0f4e-7d8a-4a3e-9d0f-1b2c3d4e5f60"},
                    "effectiveDateTime": "2025-02-04T08:15:00+01:00",
                    "valueQuantity": {
                        "value": 132,
                        "unit": "g/L",
                        "system": "http://unitsofmeasure.org",
                        "code": "g/L",
                    },
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = api.http.post("", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 2
    patient_id = answer["entry"][0]["response"]["location"].split("/")[1]
    observation = api.http.get("/" + answer["entry"][1]["response"]["location"]).json()
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"


def test_a_failing_transaction_writes_nothing(api: Api) -> None:
    existing = _post(api, PATIENT).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": PATIENT | {"id": "new-one"},
                "request": {"method": "PUT", "url": "Patient/new-one"},
            },
            {
                "resource": existing | {"gender": "male"},
                "request": {
                    "method": "PUT",
                    "url": f"Patient/{existing['id']}",
                    "ifMatch": 'W/"7"',
                },
            },
        ],
    }
    response = api.http.post("", json=bundle, headers=FHIR)
    assert response.status_code == 412
    assert api.http.get("/Patient/new-one").status_code == 404
    assert api.http.get(f"/Patient/{existing['id']}").json()["gender"] == "female"


def test_batch_reports_each_entry(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": PATIENT | {"id": "ok"}, "request": {"method": "PUT", "url": "Patient/ok"}},
            {
                "resource": PATIENT | {"id": "stale"},
                "request": {"method": "PUT", "url": "Patient/stale", "ifMatch": 'W/"3"'},
            },
        ],
    }
    answer = api.http.post("", json=bundle, headers=FHIR).json()
    assert answer["type"] == "batch-response"
    assert [e["response"]["status"] for e in answer["entry"]] == [
        "201 Created",
        "412 Precondition Failed",
    ]
    assert api.http.get("/Patient/ok").status_code == 200


def test_capability_statement_lists_what_is_served(api: Api) -> None:
    statement = api.http.get("/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    observation = {p["name"]: p["type"] for p in by_type["Observation"]["searchParam"]}
    for name, kind in [
        ("patient", "reference"),
        ("code", "token"),
        ("combo-code", "token"),
        ("date", "date"),
        ("value-quantity", "quantity"),
        ("category", "token"),
        ("status", "token"),
        ("_lastUpdated", "date"),
    ]:
        assert observation[name] == kind
    assert "DiagnosticReport:result" in by_type["DiagnosticReport"]["searchInclude"]
    assert {o["name"] for o in rest["operation"]} == {"convert", "ingest", "export"}
    assert by_type["ConceptMap"]["operation"][0]["name"] == "translate"
    assert by_type["CodeSystem"]["operation"][0]["name"] == "lookup"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}


def test_transaction_references_follow_a_conditional_create_to_its_match(api: Api) -> None:
    existing = _post(api, PATIENT).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5b0c3a7e-2f1d-4c8b-9e6a-3d2f1e0c9b8a",
                "resource": PATIENT,
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": "identifier=urn:oid:1.2.250.1.213.1.4.10|255081416802538",
                },
            },
            {
                "resource": {
                    "resourceType": "Specimen",
                    "type": {"text": "sang veineux"},
                    "subject": {"reference": "urn:uuid:5b0c3a7e-2f1d-4c8b-9e6a-3d2f1e0c9b8a"},
                },
                "request": {"method": "POST", "url": "Specimen"},
            },
        ],
    }
    answer = api.http.post("", json=bundle, headers=FHIR).json()
    assert answer["entry"][0]["response"]["status"] == "200 OK"
    specimen = api.http.get("/" + answer["entry"][1]["response"]["location"]).json()
    assert specimen["subject"]["reference"] == f"Patient/{existing['id']}"
