"""The API under uvicorn on a free loopback port, on each engine, with an httpx client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bridge.api import create_app
from bridge.settings import Settings
from bridge.store import Store
from tests.helpers import empty_values, example_files
from tests.serving import Serving
from tests.stores import ENGINES, open_test_store

CDA = {"Content-Type": "application/hl7-cda+xml"}
FHIR = {"Content-Type": "application/fhir+json"}


@dataclass
class Api:
    url: str  # http://127.0.0.1:port
    store: Store
    http: httpx.Client  # its base_url is the FHIR base, …/fhir

    @property
    def base(self) -> str:
        return f"{self.url}/fhir"

    def ingest(self, path: Path) -> httpx.Response:
        response = self.http.post("/$ingest", content=path.read_bytes(), headers=CDA)
        assert response.status_code == 200, response.text
        return response


def no_empty_elements(response: httpx.Response) -> None:
    """An httpx response hook: a FHIR resource answered never holds an empty string, array
    or object, nor a string made only of blanks. Other JSON documents keep their own
    rules: the OpenAPI document (an empty schema means "anything"), a Bulk Data manifest
    (its `error` array is required, even empty)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind not in ("application/fhir+json", "application/json"):
        return
    response.read()
    answer = response.json() if response.content else None
    if isinstance(answer, dict) and "resourceType" in answer:
        empty = empty_values(answer, answer["resourceType"])
        where = f"{response.request.method} {response.request.url.path}"
        assert not empty, f"{where} answered empty elements at {empty[:5]}"


@contextmanager
def running_api(store: Store, settings: Settings | None = None) -> Iterator[Api]:
    """The bridge on `store`, offline (no SMT), served on loopback; every JSON answer its
    client receives is checked for empty elements."""
    settings = settings or Settings(offline=True)
    with Serving(create_app(settings, store=store)) as server:
        hooks = {"response": [no_empty_elements]}
        with httpx.Client(base_url=f"{server.url}/fhir", timeout=30, event_hooks=hooks) as http:
            yield Api(server.url, store, http)


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    """An empty bridge, on each engine."""
    with running_api(store) as running:
        yield running


@pytest.fixture(scope="module", params=ENGINES)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """A bridge holding every example document, shared by the read-only tests of a module."""
    with open_test_store(request.param, tmp_path_factory.mktemp("store")) as store:
        with running_api(store) as running:
            for path in example_files():
                running.ingest(path)
            yield running


@pytest.fixture(scope="module", params=ENGINES)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """An empty bridge shared by the tests of a module that refuse what they send: each
    checks that nothing was stored by counting before and after."""
    with open_test_store(request.param, tmp_path_factory.mktemp("store")) as store:
        with running_api(store) as running:
            yield running
