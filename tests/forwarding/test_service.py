"""What the edges start: `$ingest` and `crbio serve --ingest` enqueue, /metrics reports the
outbox, `crbio forward run|status|retry` do what their help says."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.cli.main import app
from bridge.forwarding import Forwarding, Outbox
from bridge.forwarding.outbox import DEAD, PENDING
from bridge.mapping import convert
from bridge.settings import Settings
from bridge.store import Store, open_store
from tests.api.conftest import CDA, running_api
from tests.cli.test_messages import assert_failure, assert_usage_error, crbio
from tests.forwarding.downstream import fast_config, write_config
from tests.helpers import EXAMPLES
from tests.serving import free_port

DOCUMENT = EXAMPLES / "haemogram-battery.xml"


def test_ingest_over_http_enqueues_and_metrics_report_it(store: Store) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/fhir"
    settings = Settings(offline=True, forward_to=(nowhere,), forward_worker=False)
    with running_api(store, settings) as api:
        first = api.http.post("/$ingest", content=DOCUMENT.read_bytes(), headers=CDA)
        again = api.http.post("/$ingest", content=DOCUMENT.read_bytes(), headers=CDA)
        assert (first.headers["X-Crbio-Changed"], again.headers["X-Crbio-Changed"]) == (
            "true",
            "false",
        )
        metrics = api.http.get(f"{api.url}/metrics").text
    [row] = Outbox(store).rows()  # the unchanged second ingestion enqueued nothing
    assert (row.destination, row.state) == (nowhere, PENDING)
    assert f'crbio_forward_rows{{destination="{nowhere}",state="pending"}} 1.0' in metrics
    assert f'crbio_forward_rows{{destination="{nowhere}",state="dead"}} 0.0' in metrics
    assert f'crbio_forward_oldest_pending_seconds{{destination="{nowhere}"}}' in metrics


def test_load_enqueues_each_document_it_stores(tmp_path: Path) -> None:
    """`crbio load`, the bulk path, fills the outbox as `$ingest` does: one row per stored
    document and destination, none for a document already stored."""
    url = f"sqlite:///{tmp_path / 'up.sqlite3'}"
    env = {"BRIDGE_DATABASE_URL": url, "BRIDGE_FORWARD_TO": "http://127.0.0.1:9/fhir"}
    documents = [str(DOCUMENT), str(EXAMPLES / "glucose-two-units.xml")]
    for _ in range(2):
        result = CliRunner().invoke(app, ["load", "--jobs", "1", *documents], env=env)
        assert result.exit_code == 0, result.output
    store = open_store(url)
    try:
        rows = Outbox(store).rows()
        assert [r.destination for r in rows] == ["http://127.0.0.1:9/fhir"] * 2
        assert len({r.document for r in rows}) == 2
    finally:
        store.close()


def test_serve_ingests_with_forwarding_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crbio serve --ingest` fills the outbox before serving (the server is not started)."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    url = f"sqlite:///{tmp_path / 'up.sqlite3'}"
    env = {"BRIDGE_DATABASE_URL": url, "BRIDGE_FORWARD_TO": "http://127.0.0.1:9/fhir"}
    result = CliRunner().invoke(app, ["serve", "--ingest", str(DOCUMENT)], env=env)
    assert result.exit_code == 0, result.output
    store = open_store(url)
    try:
        assert [r.destination for r in Outbox(store).rows()] == ["http://127.0.0.1:9/fhir"]
    finally:
        store.close()


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands set up JSON logs on their stderr: not on the test runner's."""
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)


@pytest.fixture
def cli_store(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'up.sqlite3'}"
    store = open_store(url)
    nowhere = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens: connection refused
    Forwarding(store, fast_config(nowhere)).install()
    store.ingest(convert(DOCUMENT.read_bytes()))
    config = write_config(tmp_path / "forward.toml", nowhere)
    yield store, {"BRIDGE_DATABASE_URL": url, "BRIDGE_FORWARD_CONFIG": str(config)}
    store.close()


def test_forward_run_once_tries_what_is_due_and_exits(cli_store: Any) -> None:
    store, env = cli_store
    result = CliRunner().invoke(app, ["forward", "run", "--once"], env=env)
    assert result.exit_code == 0, result.output
    [row] = Outbox(store).rows()
    assert row.state == PENDING and row.attempts == 0  # the destination is down: waits
    assert "unreachable" in (row.last_error or "")


def test_forward_status_and_retry(cli_store: Any) -> None:
    store, env = cli_store
    outbox = Outbox(store)
    [claimed] = outbox.claim("downstream", 1, lease=60, token="t")
    outbox.failed(claimed, "HTTP 400: bad Bundle", None, retry_in=None)
    runner = CliRunner()
    status = runner.invoke(app, ["forward", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    answer = json.loads(status.stdout)
    assert answer["destinations"][0] | {"oldest_pending_seconds": None} == {
        "destination": "downstream",
        "pending": 0,
        "in-flight": 0,
        "delivered": 0,
        "dead": 1,
        "oldest_pending_seconds": None,
    }
    assert answer["dead"][0]["error"] == "HTTP 400: bad Bundle"
    table = runner.invoke(app, ["forward", "status"], env=env)
    assert (
        f"dead {claimed.id} downstream" in table.stdout and "HTTP 400: bad Bundle" in table.stdout
    )
    missing = crbio("forward", "retry", str(claimed.id), "999", **env)
    assert_failure(missing, "1 id(s) not found")
    assert "1 row(s) due again" in missing.stdout
    assert [r.state for r in outbox.rows()] == [PENDING]
    assert_usage_error(crbio("forward", "retry", **env), "give row ids")
    assert outbox.rows(DEAD) == []


def test_forward_status_shows_a_destination_url_whole(tmp_path: Path) -> None:
    """A BRIDGE_FORWARD_TO destination is named by its URL: the table wraps it on a
    narrow terminal, never cuts it to "http://127.0.0.1:…"."""
    url = f"sqlite:///{tmp_path / 'up.sqlite3'}"
    base = "http://warehouse.region.example.org:8080/fhir/r4/crbio-bridge/downstream"
    open_store(url).close()
    env = {"BRIDGE_DATABASE_URL": url, "BRIDGE_FORWARD_TO": base, "COLUMNS": "80"}
    table = CliRunner().invoke(app, ["forward", "status"], env=env)
    assert table.exit_code == 0, table.output
    rows = [line.split("│")[1].strip() for line in table.stdout.splitlines() if "│" in line]
    assert "".join(rows) == base


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "nothing to forward to"),
        ({"BRIDGE_FORWARD_CONFIG": "/nonexistent/forward.toml"}, "/nonexistent/forward.toml"),
        ({"BRIDGE_FORWARD_TO": "ftp://lab.example"}, "not an http(s) URL"),
    ],
)
def test_forward_run_refuses_what_cannot_work(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"} | env
    assert_usage_error(crbio("forward", "run", **env), message)


def test_forward_commands_need_an_existing_store(tmp_path: Path) -> None:
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}"}
    assert_failure(crbio("forward", "status", **env), "no store at")
    assert_failure(crbio("forward", "retry", "--dead", **env), "no store at")
    assert not (tmp_path / "none.sqlite3").exists()  # never created by surprise
