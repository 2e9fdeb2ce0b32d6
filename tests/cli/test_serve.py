"""`crbio serve`: loopback only without credentials, ingestion at start, a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bridge.api.auth import hash_key
from bridge.cli.main import app
from bridge.cli.serve import is_loopback
from bridge.settings import parse_api_keys
from tests.helpers import EXAMPLES, example_files
from tests.serving import free_port

CRBIO = Path(sys.executable).parent / "crbio"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return (
        env
        | {"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/crbio.sqlite3", "BRIDGE_OFFLINE": "1"}
        | extra
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_refuses_another_interface_without_credentials(tmp_path: Path, host: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", host], env=environment(tmp_path))
    assert result.exit_code == 2
    assert "refusing to listen" in result.stderr
    assert "BRIDGE_API_KEYS" in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("lab.example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serves_the_ingested_examples_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(CRBIO), "serve", "--port", str(port), "--ingest", str(EXAMPLES)],
        env=environment(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "crbio serve did not become ready"
            time.sleep(0.2)
        reports = httpx.get(f"{base}/fhir/DocumentReference", params={"_summary": "count"})
        assert reports.json()["total"] == len(example_files())
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "no credentials configured" in stderr
    assert f"ingested {len(example_files())} document(s)" in stderr
    assert "168056938321409" not in stderr  # logs carry no INS


def test_hash_key_prints_a_usable_configuration_entry() -> None:
    result = CliRunner().invoke(app, ["hash-key", "lab-a", "--scopes", "read+write"])
    assert result.exit_code == 0
    key = result.stdout.split("stored): ")[1].split()[0]
    entry = result.stdout.split("BRIDGE_API_KEYS entry: ")[1].strip()
    [parsed] = parse_api_keys(entry)
    assert parsed.name == "lab-a" and parsed.sha256 == hash_key(key)
    assert parsed.scopes == {"read", "write"}
