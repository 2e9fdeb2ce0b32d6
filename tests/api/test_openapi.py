"""The OpenAPI document tells the truth (issue 8, item 13): schemathesis, with every
check, finds nothing on either engine; 405s say what the path takes; the security
scheme is declared exactly when the API takes tokens."""

from __future__ import annotations

import httpx
import pytest

from bridge.api.openapi import REASONS
from bridge.settings import ApiKey, Settings
from bridge.store import Store
from tests.api.conftest import Api, no_empty_elements, running_api
from tests.api.fuzz_api import fuzz

SHORT_RUNS = [("sqlite", "open"), ("postgresql", "api-key")]  # `make fuzz-api`: all four


@pytest.mark.parametrize(("engine", "auth"), SHORT_RUNS)
def test_schemathesis_finds_no_failure(engine: str, auth: str) -> None:
    run = fuzz(engine, auth, max_examples=2, seed=8)
    assert run.cases > 100, run.output
    assert run.failed == 0, f"{run.failures}\n{run.output}"


def test_every_operation_documents_its_refusals_as_operation_outcomes(api: Api) -> None:
    document = httpx.get(f"{api.url}/openapi.json").json()
    fhir = {path: ops for path, ops in document["paths"].items() if path.startswith("/fhir")}
    assert len(fhir) >= 11
    for path, operations in fhir.items():
        for method, operation in operations.items():
            assert "500" not in operation["responses"]
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["description"] == REASONS[int(status)], (method, path)
                    schema = response["content"]["application/fhir+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/OperationOutcome"}
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    statement = document["paths"]["/fhir/metadata"]["get"]["responses"]["200"]["content"]
    assert statement["application/fhir+json"]["schema"]["$ref"].endswith("CapabilityStatement")


def test_the_security_scheme_is_declared_when_tokens_are_taken(store: Store) -> None:
    open_document = None
    with running_api(store) as api:
        open_document = httpx.get(f"{api.url}/openapi.json").json()
    assert "securitySchemes" not in open_document["components"]
    key = ApiKey("k", "0" * 64, frozenset({"read"}))
    with running_api(store, Settings(offline=True, api_keys=(key,))) as api:
        document = httpx.get(f"{api.url}/openapi.json").json()
    [(name, scheme)] = document["components"]["securitySchemes"].items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    search = document["paths"]["/fhir/{resource_type}"]["get"]
    assert search["security"] == [{name: []}]
    assert "security" not in document["paths"]["/fhir/metadata"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/ConceptMap/$translate", "GET, HEAD, POST"),
        ("/Patient", "GET, HEAD, POST"),
        ("/Patient/x", "GET, HEAD, PUT, DELETE"),
        ("/Patient/_search", "POST"),
        ("/metadata", "GET, HEAD"),
    ],
)
def test_a_405_lists_every_method_of_the_path(shared: Api, path: str, allowed: str) -> None:
    response = shared.http.request("PATCH", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_empty_element_check_of_the_api_clients_bites() -> None:
    request = httpx.Request("GET", "http://bridge.test/fhir/metadata")
    empty = httpx.Response(
        200, json={"resourceType": "X", "rest": [{"interaction": []}]}, request=request
    )
    with pytest.raises(AssertionError, match=r"X\.rest\[0\]\.interaction"):
        no_empty_elements(empty)
    blank = httpx.Response(200, json={"resourceType": "X", "name": "\u00a0 "}, request=request)
    with pytest.raises(AssertionError, match=r"X\.name"):
        no_empty_elements(blank)
    no_empty_elements(httpx.Response(200, json={"resourceType": "X"}, request=request))
