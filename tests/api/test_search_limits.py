"""A search's cost is bounded (issue 8, item 7): so many parameters and values at most,
a statement timeout on both engines, and a search whose client went away stops at once
instead of keeping a database connection busy."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest

from bridge.settings import Settings
from bridge.store import QueryCancelled, Store
from bridge.store.database import Interrupt
from bridge.store.search import MAX_PARAMETERS, MAX_VALUES, parse_query
from tests.api.conftest import Api, running_api
from tests.api.test_errors import refused

LOINC = "http://loinc.org"


def _codes(count: int) -> str:
    return ",".join(f"{LOINC}|{i}-0" for i in range(count))


def test_the_limits_are_refused_with_400_saying_them(shared: Api) -> None:
    at_the_limit = [("code", _codes(MAX_VALUES))] * MAX_PARAMETERS
    assert shared.http.get("/Observation", params=at_the_limit).status_code == 200
    too_many = [("code", f"{LOINC}|1-0")] * (MAX_PARAMETERS + 1)
    diagnostics = refused(shared.http.get("/Observation", params=too_many), 400, "invalid")
    assert f"at most {MAX_PARAMETERS}" in diagnostics
    too_long = {"code": _codes(MAX_VALUES + 1)}
    diagnostics = refused(shared.http.get("/Observation", params=too_long), 400, "invalid")
    assert f"at most {MAX_VALUES}" in diagnostics
    for issue_8 in ({"code": _codes(1000)}, {"_id": ",".join(map(str, range(1000)))}):
        refused(shared.http.post("/Observation/_search", data=issue_8), 400, "invalid")
    many_ids = "&".join(f"_id={i}" for i in range(1000)).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused(
        shared.http.post("/Observation/_search", content=many_ids, headers=form), 400, "invalid"
    )


def test_the_capability_statement_states_the_limits(shared: Api) -> None:
    documentation = shared.http.get("/metadata").json()["rest"][0]["documentation"]
    assert f"at most {MAX_PARAMETERS} parameters" in documentation
    assert f"at most {MAX_VALUES}" in documentation


@pytest.fixture
def populated(store: Store) -> Store:
    """Enough patients for a search that scans them all to run thousands of SQLite steps."""
    with store.writing() as writer:
        for i in range(1500):
            writer.put({"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"N{i}"}]})
    return store


def test_a_search_past_the_statement_timeout_is_503(engine: str, populated: Store) -> None:
    timeout = 0.3 if engine == "postgresql" else 1e-6  # SQLite: stopped after 1,000 steps
    settings = Settings(offline=True, statement_timeout=timeout)
    query = {"name:contains": "zz", "_total": "accurate"}
    with running_api(populated, settings) as api:
        if engine == "postgresql":
            with _locked(populated):
                response = api.http.get("/Patient", params=query)
        else:
            response = api.http.get("/Patient", params=query)
        diagnostics = refused_as(response, 503, "too-costly")
        assert "statement timeout" in diagnostics
        populated.set_statement_timeout(None)
        assert api.http.get("/Patient", params=query).status_code == 200  # connection reusable


def refused_as(response: httpx.Response, status: int, issue_type: str) -> str:
    assert response.status_code == status, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == issue_type
    return str(issue["diagnostics"])


class _locked:
    """`with _locked(store):` the resource table locked by another PostgreSQL session."""

    def __init__(self, store: Store) -> None:
        import psycopg

        self.connection = psycopg.connect(store.db.url)  # type: ignore[attr-defined]

    def __enter__(self) -> int:
        self.connection.execute("LOCK TABLE resource IN ACCESS EXCLUSIVE MODE")
        return int(self.connection.info.backend_pid)

    def __exit__(self, *exc: object) -> None:
        self.connection.rollback()
        self.connection.close()


def _blocked_by(store: Store, holder: int) -> int:
    """How many PostgreSQL sessions wait for the lock `holder` holds."""
    import psycopg

    with psycopg.connect(store.db.url, autocommit=True) as watcher:  # type: ignore[attr-defined]
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            (holder,),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(condition: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("engine", ["postgresql"])
def test_a_disconnected_search_frees_its_postgresql_backend(store: Store) -> None:
    with running_api(store, Settings(offline=True, statement_timeout=120)) as api:
        host, port = api.url.removeprefix("http://").split(":")
        with _locked(store) as holder:
            client = socket.create_connection((host, int(port)))
            client.sendall(b"GET /fhir/Observation?code=718-7 HTTP/1.1\r\nHost: x\r\n\r\n")
            _wait_for(lambda: _blocked_by(store, holder) == 1, "the search to wait on the lock")
            client.close()  # the client goes away while its search waits
            _wait_for(lambda: _blocked_by(store, holder) == 0, "the search to be cancelled")
        # The lock was held throughout: the search was stopped, it did not finish.
        assert api.http.get("/Observation", params={"code": "718-7"}).status_code == 200


def test_an_interrupt_stops_a_read_on_both_engines(store: Store) -> None:
    early = Interrupt()
    early.cancel()
    with pytest.raises(QueryCancelled):
        store.search(parse_query("Patient", []), early)
    if store.dialect == "postgresql":
        interrupt = Interrupt()
        failures: list[BaseException] = []

        def search() -> None:
            try:
                store.search(parse_query("Patient", []), interrupt)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                failures.append(exc)

        with _locked(store) as holder:
            worker = threading.Thread(target=search)
            worker.start()
            _wait_for(lambda: _blocked_by(store, holder) == 1, "the search to wait")
            interrupt.cancel()
            worker.join(20)
        assert failures and isinstance(failures[0], QueryCancelled)
    assert store.search(parse_query("Patient", [])).matches == []
