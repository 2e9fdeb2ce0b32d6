"""What clients write is validated (issue 8, item 9): required elements, required
bindings, references resolvable inside a transaction, and the policy for references to
resources the store does not hold; while a whole converted report Bundle, PUT as a
transaction as forwarding will, is accepted. Over HTTP, on both engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.settings import Settings
from bridge.store import Store
from tests.api.conftest import FHIR, Api, running_api
from tests.api.test_errors import refused
from tests.helpers import EXAMPLES

LOINC = "http://loinc.org"
PATIENT = {"resourceType": "Patient", "id": "anne", "gender": "female"}


def observation(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
        "subject": {"reference": "Patient/anne"},
    } | changes


def _count(api: Api, resource_type: str) -> int:
    return int(api.http.get(f"/{resource_type}", params={"_summary": "count"}).json()["total"])


@pytest.fixture
def with_patient(api: Api) -> Api:
    assert api.http.put("/Patient/anne", json=PATIENT, headers=FHIR).status_code == 201
    return api


INVALID = {
    "status-bogus": ("Observation", observation(status="bogus"), "status"),
    "no-status": (
        "Observation",
        {k: v for k, v in observation().items() if k != "status"},
        "status",
    ),
    "no-code": ("Observation", {k: v for k, v in observation().items() if k != "code"}, "code"),
    "comparator": (
        "Observation",
        observation(valueQuantity={"value": 1, "comparator": "!!"}),
        "comparator",
    ),
    "identifier-use": (
        "Observation",
        observation(identifier=[{"use": "forever", "value": "x"}]),
        "use",
    ),
    "gender": ("Patient", PATIENT | {"gender": "bogus"}, "gender"),
    "telecom": ("Patient", PATIENT | {"telecom": [{"system": "pigeon", "value": "x"}]}, "system"),
    "contained": (
        "Observation",
        observation(
            contained=[
                {"resourceType": "Observation", "id": "c", "status": "nope", "code": {"text": "x"}}
            ]
        ),
        "status",
    ),
    "report-status": (
        "DiagnosticReport",
        {"resourceType": "DiagnosticReport", "status": "done", "code": {"text": "CR"}},
        "status",
    ),
    "relates-to": (
        "DocumentReference",
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "content": [{"attachment": {"contentType": "application/pdf"}}],
            "relatesTo": [{"code": "obsoletes", "target": {"display": "x"}}],
        },
        "code",
    ),
    "mime": (
        "Binary",
        {"resourceType": "Binary", "contentType": "not a mime type", "data": "YWJj"},
        "MIME",
    ),
}


def test_invalid_resources_are_422_and_not_stored(with_patient: Api) -> None:
    api = with_patient
    for name, (kind, resource, named) in INVALID.items():
        response = api.http.post(f"/{kind}", json=resource, headers=FHIR)
        assert response.status_code == 422, (name, response.text)
        assert named in refused(response, 422, "processing"), name
        put = api.http.put(f"/{kind}/x1", json=resource | {"id": "x1"}, headers=FHIR)
        assert put.status_code == 422, (name, put.text)
    for kind in ("Observation", "DiagnosticReport", "DocumentReference", "Binary"):
        assert _count(api, kind) == 0
    assert api.http.get("/Patient/anne").json()["gender"] == "female"


def test_a_reference_to_an_absent_resource_is_422_naming_it(api: Api) -> None:
    for write in (
        lambda: api.http.post("/Observation", json=observation(), headers=FHIR),
        lambda: api.http.put("/Observation/o1", json=observation(id="o1"), headers=FHIR),
    ):
        diagnostics = refused(write(), 422, "not-found")
        assert "Patient/anne" in diagnostics
    missing = observation(subject={"reference": "Patient/does-not-exist"})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": missing, "request": {"method": "POST", "url": "Observation"}}],
    }
    assert "Patient/does-not-exist" in refused(
        api.http.post("", json=bundle, headers=FHIR), 422, "not-found"
    )
    assert _count(api, "Observation") == 0


def test_references_to_what_exists_or_what_the_transaction_writes_are_accepted(api: Api) -> None:
    api.http.put("/Patient/anne", json=PATIENT, headers=FHIR)
    assert api.http.post("/Observation", json=observation(), headers=FHIR).status_code == 201
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(subject={"reference": "Patient/bob"}, id="ob"),
                "request": {"method": "PUT", "url": "Observation/ob"},
            },
            {
                "resource": {"resourceType": "Patient", "id": "bob"},
                "request": {"method": "PUT", "url": "Patient/bob"},
            },
            {
                "resource": observation(
                    contained=[{"resourceType": "Specimen", "id": "s1"}],
                    specimen={"reference": "#s1"},
                    performer=[{"reference": "https://other.example.org/fhir/Organization/1"}],
                    hasMember=[{"reference": "Observation/ob/_history/1"}],
                ),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = api.http.post("", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text


def test_a_deleted_resource_is_absent(api: Api) -> None:
    api.http.put("/Patient/anne", json=PATIENT, headers=FHIR)
    api.http.delete("/Patient/anne")
    refused(api.http.post("/Observation", json=observation(), headers=FHIR), 422, "not-found")


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("urn:uuid:8a1b2c3d-0000-4000-8000-000000000001", "fullUrl"),
        ("urn:oid:1.2.3", "fullUrl"),
        ("#nowhere", "contained"),
        ("not a reference", "neither"),
    ],
)
def test_unresolvable_references_are_400(api: Api, reference: str, why: str) -> None:
    api.http.put("/Patient/anne", json=PATIENT, headers=FHIR)
    entry = {
        "fullUrl": "urn:uuid:8a1b2c3d-0000-4000-8000-0000000000ff",
        "resource": observation(specimen={"reference": reference}),
        "request": {"method": "POST", "url": "Observation"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    assert why in refused(api.http.post("", json=bundle, headers=FHIR), 400, "invalid")
    single = api.http.post("/Observation", json=entry["resource"], headers=FHIR)
    refused(single, 400, "invalid")
    assert _count(api, "Observation") == 0


def test_a_batch_refuses_each_entry_on_its_own(api: Api) -> None:
    api.http.put("/Patient/anne", json=PATIENT, headers=FHIR)
    entries = [
        {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
        {
            "resource": observation(subject={"reference": "Patient/ghost"}),
            "request": {"method": "POST", "url": "Observation"},
        },
    ]
    answer = api.http.post(
        "", json={"resourceType": "Bundle", "type": "batch", "entry": entries}, headers=FHIR
    ).json()
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity"]


@pytest.fixture
def permissive(store: Store) -> Iterator[Api]:
    with running_api(store, Settings(offline=True, reference_policy="allow")) as api:
        yield api


def test_the_allow_policy_stores_references_to_absent_resources(permissive: Api) -> None:
    created = permissive.http.post("/Observation", json=observation(), headers=FHIR)
    assert created.status_code == 201, created.text
    malformed = observation(subject={"reference": "urn:uuid:8a1b2c3d-0000-4000-8000-000000000001"})
    refused(permissive.http.post("/Observation", json=malformed, headers=FHIR), 400, "invalid")


def test_the_policy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_REFERENCE_POLICY", "allow")
    assert Settings.from_environment().reference_policy == "allow"
    monkeypatch.setenv("BRIDGE_REFERENCE_POLICY", "sometimes")
    with pytest.raises(ValueError, match="reject or allow"):
        Settings.from_environment()
    monkeypatch.delenv("BRIDGE_REFERENCE_POLICY")
    assert Settings.from_environment().reference_policy == "reject"


def test_whole_report_bundles_are_accepted_as_transactions(api: Api) -> None:
    """What forwarding will send to a second instance: every example's Bundle, as is."""
    for path in sorted(EXAMPLES.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        response = api.http.post("", json=bundle, headers=FHIR)
        assert response.status_code == 200, (path.name, response.text)
        again = api.http.post("", json=bundle, headers=FHIR)  # idempotent, like $ingest
        assert again.status_code == 200, (path.name, again.text)
    assert _count(api, "DiagnosticReport") == len(list(EXAMPLES.glob("*.json")))
