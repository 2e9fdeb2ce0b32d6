"""Property-based tests of the API against its own OpenAPI document (schemathesis).

For every operation of /openapi.json, generated requests (hypothesis, through
schemathesis) must never meet a server error, and every refusal must be a FHIR
OperationOutcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api.conftest import running_api
from tests.helpers import example_files
from tests.stores import open_test_store


def test_no_operation_meets_a_server_error(tmp_path: Path) -> None:
    with open_test_store("sqlite", tmp_path) as store, running_api(store) as api:
        for path in example_files()[:3]:
            api.ingest(path)
        schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation in operations:
            for mode in GenerationMode:  # valid requests, then deliberately invalid ones
                check_operation(operation, mode)


def check_operation(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def exercise(case: schemathesis.Case) -> None:
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400 and case.path.startswith("/fhir"):
            kind = response.headers.get("content-type") or [""]  # header values are lists
            assert kind[0].startswith("application/fhir+json"), kind
            assert response.json()["resourceType"] == "OperationOutcome"

    try:
        exercise()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE, operation.path
    except Exception as exc:
        pytest.fail(f"{mode.value} {operation.method.upper()} {operation.path}: {exc}")
