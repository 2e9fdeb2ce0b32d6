"""Transaction Bundles are all or nothing, with urn:uuid references resolved; batches are not."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.store import ConflictError, PreconditionFailed, ResourceNotFound, Store
from tests.store.resources import INS, observation, patient, report, row_counts, search_ids

PATIENT_URN = "urn:uuid:0b6f6d0e-7c0a-4d9a-9a55-1c1f1b3f0001"
OBSERVATION_URN = "urn:uuid:0b6f6d0e-7c0a-4d9a-9a55-1c1f1b3f0002"
REPORT_URN = "urn:uuid:0b6f6d0e-7c0a-4d9a-9a55-1c1f1b3f0003"


def _put(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": full_url or url,
        "resource": resource,
        "request": {"method": "PUT", "url": url, **request},
    }


def _post(resource: dict[str, Any], full_url: str, **request: str) -> dict[str, Any]:
    resource = {k: v for k, v in resource.items() if k != "id"}
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def _bundle(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _observation_to(subject: str) -> dict[str, Any]:
    resource = observation("o1", date="2024-11-10")
    return {**resource, "subject": {"reference": subject}}


def test_put_entries_with_urn_references_are_rewritten(store: Store) -> None:
    response = store.transaction(
        _bundle(
            _put(_observation_to(PATIENT_URN), OBSERVATION_URN),
            _put(patient("p1"), PATIENT_URN),
        )
    )
    assert response["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in response["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    assert response["entry"][0]["response"]["location"] == "Observation/o1/_history/1"
    stored = store.read("Observation", "o1").resource()
    assert stored["subject"] == {"reference": "Patient/p1"}
    assert search_ids(store, "Observation", ("patient", "p1")) == {"o1"}


def test_post_entries_get_ids_their_references_use(store: Store) -> None:
    """A POSTed resource gets a new id, and references to its fullUrl name that id."""
    response = store.transaction(
        _bundle(
            _post(_observation_to(PATIENT_URN), OBSERVATION_URN),
            _post(patient("ignored", "GARNIER"), PATIENT_URN),
            _post(
                {
                    **report("x"),
                    "result": [{"reference": OBSERVATION_URN}],
                    "subject": {"reference": PATIENT_URN},
                },
                REPORT_URN,
            ),
        )
    )
    locations = [e["response"]["location"] for e in response["entry"]]
    observation_id = locations[0].split("/")[1]
    patient_id = locations[1].split("/")[1]
    report_id = locations[2].split("/")[1]
    assert patient_id != "ignored"
    stored = store.read("Observation", observation_id).resource()
    assert stored["subject"] == {"reference": f"Patient/{patient_id}"}
    assert store.read("Patient", patient_id).resource()["name"][0]["family"] == "GARNIER"
    stored_report = store.read("DiagnosticReport", report_id).resource()
    assert stored_report["result"] == [{"reference": f"Observation/{observation_id}"}]
    assert search_ids(store, "Observation", ("patient", f"Patient/{patient_id}")) == {
        observation_id
    }


def test_conditional_post_points_references_at_the_match(store: Store) -> None:
    """If-None-Exist finds the patient: the Bundle's references go to that patient."""
    store.put(patient("known", "GARNIER", ins="1680569383214"))
    response = store.transaction(
        _bundle(
            _post(
                patient("x", "GARNIER", ins="1680569383214"),
                PATIENT_URN,
                ifNoneExist=f"identifier={INS}|1680569383214",
            ),
            _put(_observation_to(PATIENT_URN), OBSERVATION_URN),
        )
    )
    assert response["entry"][0]["response"]["status"] == "200 OK"
    assert response["entry"][0]["response"]["location"].startswith("Patient/known/")
    assert store.read("Observation", "o1").resource()["subject"] == {"reference": "Patient/known"}
    assert search_ids(store, "Patient") == {"known"}


def test_a_failing_entry_leaves_nothing_written(store: Store) -> None:
    """The last entry's If-Match fails: the earlier entries are rolled back too."""
    store.put(patient("p1", "GARNIER"))
    counts = row_counts(store)
    with pytest.raises(PreconditionFailed):
        store.transaction(
            _bundle(
                _put(observation("o1", date="2024-11-10")),
                _put(patient("p1", "DUPONT")),
                _put(patient("p2", "MARTIN"), ifMatch='W/"3"'),
            )
        )
    with pytest.raises(ResourceNotFound):
        store.read("Observation", "o1")
    assert store.read("Patient", "p1").resource()["name"][0]["family"] == "GARNIER"
    assert row_counts(store) == counts
    assert search_ids(store, "Observation", ("code", "718-7")) == set()


def test_a_delete_in_a_failing_transaction_is_undone(store: Store) -> None:
    store.put(patient("p1"))
    with pytest.raises(PreconditionFailed):
        store.transaction(
            _bundle(
                {"request": {"method": "DELETE", "url": "Patient/p1"}},
                _put(patient("p2"), ifMatch='W/"1"'),
            )
        )
    assert store.read("Patient", "p1").version_id == 1


def test_the_same_resource_twice_is_a_conflict(store: Store) -> None:
    with pytest.raises(ConflictError):
        store.transaction(_bundle(_put(patient("p1", "GARNIER")), _put(patient("p1", "DUPONT"))))
    with pytest.raises(ConflictError):
        store.transaction(
            _bundle(_put(patient("p1")), {"request": {"method": "DELETE", "url": "Patient/p1"}})
        )
    with pytest.raises(ResourceNotFound):
        store.read("Patient", "p1")


@pytest.mark.parametrize(
    "entry",
    [
        {"resource": patient("p1"), "request": {"method": "PUT", "url": "Patient/p2"}},
        {"resource": patient("p1"), "request": {"method": "PUT", "url": "Observation/p1"}},
        {"request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": patient("p1"), "request": {"method": "PATCH", "url": "Patient/p1"}},
        {"request": {"method": "DELETE", "url": "Patient?identifier=x"}},
    ],
    ids=["other-id", "other-type", "no-resource", "patch", "conditional-delete"],
)
def test_entries_the_store_refuses(store: Store, entry: dict[str, Any]) -> None:
    store.put(patient("p0"))
    counts = row_counts(store)
    with pytest.raises(ConflictError):
        store.transaction(_bundle(_put(observation("o1")), entry))
    assert row_counts(store) == counts


def test_delete_entry(store: Store) -> None:
    store.put(patient("p1"))
    response = store.transaction(_bundle({"request": {"method": "DELETE", "url": "Patient/p1"}}))
    assert response["entry"] == [{"response": {"status": "204 No Content"}}]
    assert search_ids(store, "Patient") == set()


def test_unchanged_entries_say_so(store: Store) -> None:
    store.put(patient("p1"))
    response = store.transaction(_bundle(_put(patient("p1"))))
    entry = response["entry"][0]["response"]
    assert entry["status"] == "200 OK"
    assert entry["etag"] == 'W/"1"'
    assert "unchanged" in entry["outcome"]["issue"][0]["diagnostics"]


def test_batch_reports_failures_per_entry(store: Store) -> None:
    store.put(patient("p1", "GARNIER"))
    response = store.batch(
        _bundle(
            _put(observation("o1", date="2024-11-10")),
            _put(patient("p1", "DUPONT"), ifMatch='W/"9"'),
            {"request": {"method": "PATCH", "url": "Patient/p1"}},
            _post(patient("x"), "urn:uuid:1", ifNoneExist="birthdate=not-a-date"),
            _put(observation("o2", date="2024-11-11")),
            kind="batch",
        )
    )
    assert response["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in response["entry"]]
    assert statuses == [
        "201 Created",
        "412 Precondition Failed",
        "409 Conflict",
        "400 Bad Request",
        "201 Created",
    ]
    assert response["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert search_ids(store, "Observation") == {"o1", "o2"}
    assert store.read("Patient", "p1").resource()["name"][0]["family"] == "GARNIER"
    assert search_ids(store, "Patient") == {"p1"}
