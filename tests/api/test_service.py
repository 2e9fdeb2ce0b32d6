"""Health, readiness, metrics and access logs (which never carry patient data)."""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from bridge.api.observability import JsonFormatter
from bridge.settings import Settings
from tests.api.conftest import CDA, Api, running_api
from tests.helpers import EXAMPLES
from tests.stores import open_test_store

INS = "168056938321409"


def test_health_and_readiness(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_not_ready_when_the_store_does_not_answer(engine: str, tmp_path: Path) -> None:
    with open_test_store(engine, tmp_path) as store:
        with running_api(store, Settings(offline=True)) as api:
            assert httpx.get(f"{api.url}/readyz").status_code == 200
            store.close()  # the database goes away under the running server
            assert httpx.get(f"{api.url}/healthz").status_code == 200
            not_ready = httpx.get(f"{api.url}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["status"] == "unavailable"


def test_metrics_count_requests_by_route_and_documents(api: Api) -> None:
    api.http.post("/$ingest", content=(EXAMPLES / "trod-covid.xml").read_bytes(), headers=CDA)
    api.http.get("/Observation", params={"code": "94558-4"})
    api.http.get("/Observation/nothing")
    text = httpx.get(f"{api.url}/metrics").text
    assert 'crbio_documents_total{operation="ingest"} 1.0' in text
    assert (
        'crbio_http_requests_total{method="GET",route="/fhir/{resource_type}",status="200"}' in text
    )
    assert (
        'crbio_http_requests_total{method="GET",route="/fhir/{resource_type}/{resource_id}",'
        'status="404"}' in text
    )
    assert "crbio_http_request_seconds_bucket" in text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_access_logs_name_routes_never_identifiers(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.access")
    api.http.post(
        "/$ingest", content=(EXAMPLES / "glucose-two-units.xml").read_bytes(), headers=CDA
    )
    api.http.get("/Patient", params={"identifier": f"urn:oid:1.2.250.1.213.1.4.10|{INS}"})
    api.http.get("/Patient/some-patient-id")
    records = [r for r in caplog.records if r.name == "bridge.access"]
    assert len(records) >= 3
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in records]
    routes = {line["route"] for line in lines}
    assert {
        "/fhir/$ingest",
        "/fhir/{resource_type}",
        "/fhir/{resource_type}/{resource_id}",
    } <= routes
    everything = "\n".join(formatter.format(r) for r in records)
    for secret in (INS, "some-patient-id", "GARNIER", "identifier"):
        assert secret not in everything
    assert all({"method", "status", "duration_ms"} <= line.keys() for line in lines)


def test_an_unexpected_error_logs_its_route_and_id_never_the_path(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    with open_test_store(engine, tmp_path) as store:
        with running_api(store, Settings(offline=True)) as api:
            store.close()  # the database goes away: reads fail in a way nobody planned
            response = api.http.get(f"/Patient/{INS}/_history/1", params={"identifier": INS})
    assert response.status_code == 500
    [issue] = response.json()["issue"]
    assert issue["code"] == "exception"
    error_id = issue["diagnostics"].rsplit(" ", 1)[-1]
    [record] = [r for r in caplog.records if r.getMessage() == "unexpected error"]
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/fhir/{resource_type}/{resource_id}/_history/{version_id}"
    assert line["error_id"] == error_id
    assert line["error"] and line["frames"]
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert INS not in everything and "_history/1" not in everything


def test_the_log_formatter_never_writes_an_exception_message() -> None:
    try:
        raise ValueError(f"invalid literal for int(): {INS!r}")
    except ValueError:
        record = logging.getLogger("bridge.test").makeRecord(
            "bridge.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert INS not in line and json.loads(line)["error"] == "ValueError"


def test_metrics_are_the_prometheus_text_format(api: Api) -> None:
    response = httpx.get(f"{api.url}/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_a_client_leaving_mid_body_is_499_not_an_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a review: a body shorter than its Content-Length (the client then gone)
    was logged as an unexpected error and counted as a 500."""
    caplog.set_level(logging.INFO, logger="bridge")
    host, port = api.url.removeprefix("http://").split(":")
    for path, kind in (("/fhir/Patient", "application/fhir+json"), ("/fhir/$ingest", "text/xml")):
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                "Content-Length: 100\r\n\r\n{}".encode()
            )
    for _ in range(100):  # the server sees each close a moment later
        text = httpx.get(f"{api.url}/metrics").text
        if text.count('status="499"') >= 2:
            break
        time.sleep(0.05)
    assert 'route="/fhir/{resource_type}",status="499"' in text, text
    assert 'route="/fhir/$ingest",status="499"' in text
    assert 'status="500"' not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_made_up_method_is_counted_as_other(api: Api) -> None:
    """Metrics labels come from a closed set: a client inventing methods cannot grow them."""
    for method in ("BREW", "XYZZY1", "XYZZY2"):
        assert api.http.request(method, "/metadata").status_code == 405
    text = httpx.get(f"{api.url}/metrics").text
    assert 'method="other",route="/fhir/metadata",status="405"} 3.0' in text
    assert "BREW" not in text and "XYZZY" not in text
