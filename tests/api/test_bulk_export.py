"""FHIR Bulk Data export over HTTP, on each engine, with a client that follows the
specification step by step (tests/api/bulk_client.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.api.auth import ANONYMOUS, hash_key
from bridge.export.jobs import JobStore
from bridge.export.request import MAX_TYPE_FILTERS, parse_kickoff
from bridge.export.service import MAX_KEPT
from bridge.settings import ApiKey, Settings
from bridge.store import Store, open_store
from bridge.store.content import unpack
from bridge.store.indexing import date_range
from bridge.store.search import MAX_PARAMETERS, MAX_VALUES
from tests.api.bulk_client import ASYNC, BulkClient, Export
from tests.api.conftest import FHIR, Api, running_api
from tests.helpers import example_files
from tests.stores import database_url

PATIENT_LEVEL = {
    "Patient", "Observation", "DiagnosticReport", "Specimen", "DocumentReference",
    "ServiceRequest", "Encounter", "Media", "Provenance", "Binary",
}  # fmt: skip


def stored(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """Every current resource of the store, by type and id, read from the database."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    with store.db.read() as cursor:
        cursor.execute("SELECT resource_type, id, content FROM resource WHERE NOT deleted")
        for resource_type, resource_id, content in cursor.fetchall():
            resource = json.loads(unpack(content), parse_float=Decimal)
            found.setdefault(resource_type, {})[resource_id] = resource
    return found


def strings(node: Any, key: str) -> Iterator[str]:
    """Every string value of `key`, at any depth."""
    if isinstance(node, dict):
        if isinstance(node.get(key), str):
            yield node[key]
        for value in node.values():
            yield from strings(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, key)


def references(node: Any) -> Iterator[str]:
    return strings(node, "reference")


def attachment_urls(node: Any) -> Iterator[str]:
    return (url for url in strings(node, "url") if "/Binary/" in url)


@pytest.fixture(scope="module")
def full(loaded: Api) -> Export:
    return BulkClient(loaded.http).export()


def test_a_full_export_is_every_stored_resource_as_stored(loaded: Api, full: Export) -> None:
    manifest = full.manifest
    assert manifest["request"] == f"{loaded.base}/$export"
    assert manifest["requiresAccessToken"] is False  # no credentials configured
    assert manifest["error"] == [] and "deleted" not in manifest  # no _since
    in_store = stored(loaded.store)
    assert set(full.resources) == set(in_store)
    for resource_type, resources in full.resources.items():
        ids = [r["id"] for r in resources]
        assert len(ids) == len(set(ids)), f"{resource_type}: each resource once"
        assert set(ids) == set(in_store[resource_type])
        for resource in resources:
            original = in_store[resource_type][resource["id"]]
            if resource_type in ("DocumentReference", "DiagnosticReport", "Media"):
                # attachments point to their Binary by absolute URL; nothing else differs
                text = json.dumps(original).replace('"Binary/', f'"{loaded.base}/Binary/')
                original = json.loads(text, parse_float=Decimal)
            assert resource == original


def test_references_resolve_within_a_full_export(loaded: Api, full: Export) -> None:
    """Every reference names a resource of the export, or one the store deleted (a report
    replaced by a newer version, which the superseded DocumentReference still names)."""
    exported = {f"{r['resourceType']}/{r['id']}" for r in full.all()}
    checked, deleted = 0, set()
    for resource in full.all():
        contained = {f"#{c['id']}" for c in resource.get("contained", ())}
        for reference in references(resource):
            if reference.startswith("#"):
                assert reference in contained
            elif reference not in exported:
                assert loaded.http.get(f"/{reference}").status_code == 410, reference
                deleted.add(reference)
            checked += 1
        for url in attachment_urls(resource):
            assert url.startswith(f"{loaded.base}/Binary/"), url
            assert url.removeprefix(f"{loaded.base}/") in exported
            assert loaded.http.get(url).status_code == 200  # readable with the same token
    assert checked > 100 and len(deleted) < 5


def test_type_and_type_filter_narrow_the_export(loaded: Api) -> None:
    search = loaded.http.get("/Observation", params={"code": "http://loinc.org|718-7"}).json()
    expected = {e["resource"]["id"] for e in search.get("entry", [])}
    assert expected
    found = BulkClient(loaded.http).export(
        params={
            "_type": "Observation,Patient",
            "_typeFilter": "Observation?code=http://loinc.org|718-7",
        }
    )
    assert set(found.resources) == {"Observation", "Patient"}
    assert found.ids("Observation") == expected
    assert found.ids("Patient") == set(stored(loaded.store)["Patient"])  # no filter on it


def test_patient_export_holds_the_compartments_only(loaded: Api) -> None:
    found = BulkClient(loaded.http).export("/Patient/$export")
    assert set(found.resources) <= PATIENT_LEVEL
    assert {"Patient", "Observation", "DiagnosticReport", "Binary", "Provenance"} <= set(
        found.resources
    )
    in_store = stored(loaded.store)
    for resource_type in ("Patient", "Observation", "DiagnosticReport", "Binary"):
        assert found.ids(resource_type) == set(in_store[resource_type])


def test_patient_export_of_one_patient(loaded: Api) -> None:
    patients = sorted(stored(loaded.store)["Patient"])
    patient = f"Patient/{patients[0]}"
    found = BulkClient(loaded.http).export(
        "/Patient/$export",
        parameters={
            "resourceType": "Parameters",
            "parameter": [{"name": "patient", "valueReference": {"reference": patient}}],
        },
    )
    assert found.manifest["request"] == f"{loaded.base}/Patient/$export"  # POST: no parameters
    assert found.ids("Patient") == {patients[0]}
    for resource_type in ("Observation", "DiagnosticReport", "DocumentReference", "Specimen"):
        search = loaded.http.get(f"/{resource_type}", params={"subject": patient, "_count": 500})
        expected = {e["resource"]["id"] for e in search.json().get("entry", [])}
        assert found.ids(resource_type) == expected, resource_type
    documents = {f"DocumentReference/{i}" for i in found.ids("DocumentReference")}
    assert found.resources["Binary"]
    for binary in found.resources[
        "Binary"
    ]:  # the report's PDF and CDA, through their DocumentReference
        assert binary["securityContext"]["reference"] in documents
    exported = {f"{r['resourceType']}/{r['id']}" for r in found.all()}
    for provenance in found.resources["Provenance"]:
        assert any(t["reference"] in exported for t in provenance["target"])
    others = {f"Patient/{p}" for p in patients[1:]}
    for resource in found.all():
        assert not set(references(resource)) & others


def test_refusals_are_operation_outcomes(loaded: Api) -> None:
    http = loaded.http
    for path, params in [
        ("/$export", {"_type": "Nonsense"}),  # not served here
        ("/$export", {"_since": "yesterday"}),
        ("/$export", {"_outputFormat": "application/xml"}),
        ("/$export", {"_elements": "id"}),
        ("/$export", {"patient": "Patient/1"}),  # not for a system level export
        ("/$export", {"_typeFilter": "Observation?code=718-7&_sort=date"}),
        ("/Patient/$export", {"_type": "Practitioner"}),  # outside the compartment
        ("/Patient/$export", {"patient": "Patient/not-on-this-server"}),
    ]:
        response = http.get(path, params=params, headers=ASYNC)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert response.json()["resourceType"] == "OperationOutcome"
    for url in ["/$export-status/nope", "/$export-file/nope/0"]:
        response = http.get(url)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"


def test_lenient_handling_reports_what_it_left_aside(loaded: Api) -> None:
    """Without respond-async too: the kick-off is taken as asynchronous all the same."""
    found = BulkClient(loaded.http).export(
        params={"_type": "Patient,Nonsense", "_elements": "id"},
        headers={"Prefer": "handling=lenient"},
    )
    assert set(found.resources) == {"Patient"}
    notes = " ".join(o["issue"][0]["diagnostics"] for o in found.errors)
    assert "Nonsense" in notes and "_elements" in notes


def test_since_exports_what_changed_and_what_was_deleted(api: Api) -> None:
    for path in example_files()[:2]:
        api.ingest(path)
    client = BulkClient(api.http)
    first = client.export()
    since = first.manifest["transactionTime"]
    assert client.export(params={"_since": since}).all() == []
    patient = first.resources["Patient"][0]
    changed = {**patient, "gender": "other" if patient.get("gender") != "other" else "female"}
    assert api.http.put(f"/Patient/{patient['id']}", json=changed, headers=FHIR).status_code == 200
    gone = first.resources["Encounter"][0]["id"]
    assert api.http.delete(f"/Encounter/{gone}").status_code == 204
    later = client.export(params={"_since": since})
    assert [(r["resourceType"], r["id"]) for r in later.all()] == [("Patient", patient["id"])]
    assert later.resources["Patient"][0]["gender"] == changed["gender"]
    updated = date_range(later.resources["Patient"][0]["meta"]["lastUpdated"])
    assert (
        updated
        and date_range(since)[0] < updated[0] <= date_range(later.manifest["transactionTime"])[0]
    )
    deletions = [e["request"] for bundle in later.deleted for e in bundle["entry"]]
    assert all(b["type"] == "transaction" for b in later.deleted)
    assert deletions == [{"method": "DELETE", "url": f"Encounter/{gone}"}]
    assert gone not in later.ids("Encounter")  # deleted: never in the output


@contextmanager
def instance(url: str, settings: Settings) -> Iterator[Api]:
    store = open_store(url)
    try:
        with running_api(store, settings) as running:
            yield running
    finally:
        store.close()


def test_another_replica_runs_answers_and_serves(engine: str, tmp_path: Path) -> None:
    """Replicas share nothing but the database: one queues, another runs, either answers."""
    with database_url(engine, tmp_path) as url:
        with instance(url, Settings(offline=True, export_worker=False)) as first:
            first.ingest(example_files()[0])
            client = BulkClient(first.http)
            status = client.kick_off(params={"_type": "Patient,Observation"})
            waiting = first.http.get(status)
            assert waiting.status_code == 202  # queued: no worker in this process
            assert waiting.headers["X-Progress"] == "queued"
            assert waiting.headers["Retry-After"] == "1"
            with instance(url, Settings(offline=True)) as second:  # its worker runs it
                manifest, _ = client.poll(status)
                by_second = BulkClient(second.http)
                for item in manifest["output"]:
                    assert client.download(item, manifest) == by_second.download(item, manifest)
                assert second.http.get(status).json() == manifest
            # the second replica is gone: the first still serves the finished export
            assert first.http.get(status).json() == manifest
            assert len(client.download(manifest["output"][0], manifest)) > 0


def test_twenty_concurrent_kick_offs_queue_five(engine: str, tmp_path: Path) -> None:
    """The limit of waiting exports per client is counted and written in one transaction:
    twenty kick-offs at once (no worker to run them) get five 202 and fifteen 429."""
    with database_url(engine, tmp_path) as url:
        with instance(url, Settings(offline=True, export_worker=False)) as queued:

            def kick_off(_: int) -> int:
                with httpx.Client(base_url=queued.base, timeout=60) as http:
                    return http.get("/$export", headers=ASYNC).status_code

            with ThreadPoolExecutor(max_workers=20) as pool:
                statuses = sorted(pool.map(kick_off, range(20)))
            assert statuses == [202] * 5 + [429] * 15


def test_a_client_keeps_at_most_twenty_completed_exports(engine: str, tmp_path: Path) -> None:
    """Each completed export keeps its files in the database until it expires (24 h):
    the 21st is refused until the client deletes one it has downloaded."""
    with database_url(engine, tmp_path) as url:
        with instance(url, Settings(offline=True)) as running:
            client = BulkClient(running.http)
            done = []
            for _ in range(MAX_KEPT):
                status = client.kick_off(params={"_type": "Patient"})
                client.poll(status)
                done.append(status)
            refused = running.http.get("/$export", params={"_type": "Patient"}, headers=ASYNC)
            assert refused.status_code == 429 and "keeps 20 completed" in refused.text
            assert client.delete(done[0]).status_code == 202
            client.poll(client.kick_off(params={"_type": "Patient"}))


def test_delete_cancels_then_polls_answer_404(engine: str, tmp_path: Path) -> None:
    with database_url(engine, tmp_path) as url:
        with instance(url, Settings(offline=True, export_worker=False)) as queued:
            client = BulkClient(queued.http)
            status = client.kick_off()
            assert client.delete(status).status_code == 202
            after = queued.http.get(status)
            assert after.status_code == 404
            assert after.json()["resourceType"] == "OperationOutcome"
            assert client.delete(status).status_code == 404
            waiting = [client.kick_off() for _ in range(5)]  # as many as a client may
            refused = queued.http.get("/$export", headers=ASYNC)
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
            assert all(client.delete(status).status_code == 202 for status in waiting)
        with instance(url, Settings(offline=True)) as running:  # a finished export, deleted
            client = BulkClient(running.http)
            running.ingest(example_files()[0])
            status = client.kick_off(params={"_type": "Patient"})
            manifest, _ = client.poll(status)
            assert client.delete(status).status_code == 202
            assert running.http.get(status).status_code == 404
            assert running.http.get(manifest["output"][0]["url"]).status_code == 404


def test_exports_need_the_same_token_as_the_api(store: Store) -> None:
    reader, other = "bulk-reader-5f1c", "other-reader-77aa"
    settings = Settings(
        offline=True,
        api_keys=(
            ApiKey("reader", hash_key(reader), frozenset({"read"})),
            ApiKey("other", hash_key(other), frozenset({"read"})),
            ApiKey("writer", hash_key("w-key-1"), frozenset({"read", "write"})),
        ),
    )
    with running_api(store, settings) as api:
        api.http.post(
            "/$ingest",
            content=example_files()[0].read_bytes(),
            headers={"Content-Type": "application/hl7-cda+xml", "Authorization": "Bearer w-key-1"},
        ).raise_for_status()
        assert api.http.get("/$export", headers=ASYNC).status_code == 401
        client = BulkClient(api.http, token=reader)
        status = client.kick_off()
        assert api.http.get(status).status_code == 401  # polls need the token too
        manifest, _ = client.poll(status)
        assert manifest["requiresAccessToken"] is True
        url = manifest["output"][0]["url"]
        assert api.http.get(url).status_code == 401
        assert client.download(manifest["output"][0], manifest)
        stranger = {"Authorization": f"Bearer {other}"}  # another client: not its export
        assert api.http.get(status, headers=stranger).status_code == 404
        assert api.http.get(url, headers=stranger).status_code == 404
        assert api.http.delete(status, headers=stranger).status_code == 404


def test_a_job_left_running_by_a_dead_server_is_run_again(store: Store) -> None:
    with running_api(store) as api:
        api.ingest(example_files()[0])
    jobs = JobStore(store.db, retention=10**9)
    request = parse_kickoff("system", [("_type", "Patient")], lenient=False)
    url = "http://old/fhir/$export?_type=Patient"
    jobs.create("left-behind", url, request.to_json(), ANONYMOUS.name, 0, limit=5)
    dead = jobs.claim("dead-process", 0, -1, 3)  # claimed long ago, heartbeat never since
    assert dead is not None and dead.status == "running"
    with running_api(store) as api:  # a new server: its worker takes the job over
        manifest, _ = BulkClient(api.http).poll(f"{api.base}/$export-status/left-behind")
    assert manifest["request"] == url
    assert [item["type"] for item in manifest["output"]] == ["Patient"]
    assert jobs.get("left-behind").attempts == 2


def test_capability_statement_lists_the_export_operations(loaded: Api) -> None:
    statement = loaded.http.get("/metadata").json()
    rest = statement["rest"][0]
    system = {o["name"]: o["definition"] for o in rest["operation"]}
    assert system["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["definition"] == (
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
    )
    paths = httpx.get(f"{loaded.url}/openapi.json").json()["paths"]
    assert {"/fhir/$export", "/fhir/Patient/$export", "/fhir/$export-status/{job_id}"} <= set(paths)


def test_the_largest_type_filter_an_export_takes_runs_on_each_engine(loaded: Api) -> None:
    """As many searches as allowed, each with as many parameters and values as a search
    takes: the export's one statement runs (SQLite refused 1,100 searches after 202)."""
    values = ",".join(f"http://loinc.org|{i}-0" for i in range(MAX_VALUES - 1))
    search = "&".join(
        [f"code={values},http://loinc.org|718-7"] * (MAX_PARAMETERS - 1) + ["status=final"]
    )

    def parameters(count: int) -> dict[str, Any]:
        filters = [{"name": "_typeFilter", "valueString": f"Observation?{search}"}] * count
        return {
            "resourceType": "Parameters",
            "parameter": [{"name": "_type", "valueString": "Observation"}, *filters],
        }

    found = BulkClient(loaded.http).export(parameters=parameters(MAX_TYPE_FILTERS))
    expected = loaded.http.get("/Observation", params={"code": "http://loinc.org|718-7"})
    assert found.ids("Observation") == {e["resource"]["id"] for e in expected.json()["entry"]}
    too_many = loaded.http.post(
        "/$export", json=parameters(MAX_TYPE_FILTERS + 1), headers={**ASYNC, **FHIR}
    )
    assert too_many.status_code == 400, too_many.text
    assert f"at most {MAX_TYPE_FILTERS}" in too_many.json()["issue"][0]["diagnostics"]
