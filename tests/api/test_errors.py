"""Every refusal is an OperationOutcome, with the status a FHIR client expects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bridge.settings import Settings
from bridge.store import Store
from tests.api.conftest import CDA, FHIR, Api, running_api
from tests.helpers import EXAMPLES


def refused(response: httpx.Response, status: int, issue_type: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == issue_type
    assert issue["diagnostics"]
    return str(issue["diagnostics"])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"date": "yesterday"}, "date"),
        ({"value-quantity": "lots|http://unitsofmeasure.org|g/L"}, "value-quantity"),
        ({"_count": "many"}, "_count"),
        ({"_sort": "colour"}, "colour"),
        ({"_include": "Observation:nothing"}, "_include"),
        ({"_cursor": "not-a-cursor"}, "cursor"),
        ({"code": ""}, "code"),
    ],
)
def test_bad_search_values_are_400(api: Api, params: dict[str, str], named: str) -> None:
    assert named in refused(api.http.get("/Observation", params=params), 400, "invalid")


def test_unknown_resource_and_type_are_404(api: Api) -> None:
    refused(api.http.get("/Observation/nothing-here"), 404, "not-found")
    refused(api.http.get("/Questionnaire"), 404, "not-found")
    refused(api.http.get("/Observation/x/_history/abc"), 404, "not-found")
    refused(api.http.get("/nowhere"), 404, "not-found")


def test_deleted_is_410(api: Api) -> None:
    api.http.put("/Patient/p", json={"resourceType": "Patient", "id": "p"}, headers=FHIR)
    api.http.delete("/Patient/p")
    refused(api.http.get("/Patient/p"), 410, "deleted")


def test_a_bundle_writing_a_resource_twice_is_409(api: Api) -> None:
    entry = {
        "resource": {"resourceType": "Patient", "id": "p"},
        "request": {"method": "PUT", "url": "Patient/p"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    refused(api.http.post("", json=bundle, headers=FHIR), 409, "conflict")
    refused(api.http.get("/Patient/p"), 404, "not-found")


def test_stale_if_match_is_412(api: Api) -> None:
    api.http.put("/Patient/p", json={"resourceType": "Patient", "id": "p"}, headers=FHIR)
    response = api.http.put(
        "/Patient/p",
        json={"resourceType": "Patient", "id": "p", "gender": "male"},
        headers=FHIR | {"If-Match": 'W/"4"'},
    )
    refused(response, 412, "conflict")


@pytest.fixture
def small(store: Store) -> Iterator[Api]:
    with running_api(store, Settings(offline=True, max_document_bytes=10_000)) as api:
        yield api


def test_a_document_over_the_limit_is_413(small: Api) -> None:
    big = (EXAMPLES / "glucose-two-units.xml").read_bytes()
    assert len(big) > 10_000
    refused(small.http.post("/$ingest", content=big, headers=CDA), 413, "too-long")
    chunked = small.http.post(
        "/$ingest", content=iter([big[:8_000], big[8_000:]]), headers=CDA
    )  # no Content-Length: counted as it streams
    refused(chunked, 413, "too-long")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/$ingest", "text/plain"),
        ("/$convert", "application/pdf"),
        ("/$ingest", ""),
        ("/Patient", "application/xml"),
    ],
)
def test_wrong_media_type_is_415(api: Api, path: str, content_type: str) -> None:
    response = api.http.post(path, content=b"<x/>", headers={"Content-Type": content_type})
    refused(response, 415, "not-supported")


def test_a_body_that_is_not_a_resource_is_400(api: Api) -> None:
    refused(api.http.post("/Patient", content=b"{not json", headers=FHIR), 400, "invalid")
    refused(api.http.post("/Patient", json=[1, 2], headers=FHIR), 400, "invalid")
    refused(
        api.http.post("/Patient", json={"resourceType": "Observation"}, headers=FHIR),
        400,
        "invalid",
    )
    refused(api.http.post("", json={"resourceType": "Patient"}, headers=FHIR), 400, "invalid")


def test_an_invalid_resource_is_422_and_not_stored(api: Api) -> None:
    response = api.http.put(
        "/Patient/p",
        json={"resourceType": "Patient", "id": "p", "gender": 12, "birthDate": "14/08/1955"},
        headers=FHIR,
    )
    diagnostics = refused(response, 422, "processing")
    assert "gender" in diagnostics or "birthDate" in diagnostics
    refused(api.http.get("/Patient/p"), 404, "not-found")


def test_a_document_that_is_not_cr_bio_is_422(api: Api) -> None:
    us = b"""<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="US"/>
<code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/></ClinicalDocument>"""
    refused(api.http.post("/$ingest", content=us, headers=CDA), 422, "not-supported")
