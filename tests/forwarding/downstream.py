"""A real downstream FHIR server (this app, in its own process, on its own store), a worker
to deliver to it, and the comparison of the two stores resource by resource."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bridge.forwarding import Forwarding, ForwardingConfig, parse_config
from bridge.store import Store, open_store
from tests.serving import free_port

__all__ = [
    "CRBIO",
    "Server",
    "assert_mirrored",
    "fast_config",
    "running_worker",
    "wait_until",
    "write_config",
]

CRBIO = Path(sys.executable).parent / "crbio"
# Short timings: a suite of a few seconds, the same code paths as the defaults
FAST_WORKER = {
    "backoff_base": 0.05,
    "backoff_cap": 0.4,
    "lease": 4.0,
    "poll_interval": 0.05,
    "concurrency": 4,
}


REPORT_TYPES = (
    "Binary",
    "Device",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Location",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "ServiceRequest",
    "Specimen",
)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return env | {"BRIDGE_OFFLINE": "1"} | extra


class Server:
    """`crbio serve` on a free loopback port and its own SQLite file."""

    def __init__(
        self, folder: Path, *, key: str | None = None, warm: bool = True, **env: str
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "crbio.sqlite3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = f"{self.url}/fhir"
        self.database_url = f"sqlite:///{self.path}"
        self.env = environment(BRIDGE_DATABASE_URL=self.database_url, **env)
        self.log = folder / "serve.log"
        self.key = key  # an API key with write scope, when BRIDGE_API_KEYS is set
        self.warm = warm  # a downstream server: first writes as quick as the next
        self.process: subprocess.Popen[bytes] | None = None
        self.own: set[tuple[str, str]] = set()

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(CRBIO), "serve", "--port", str(self.port)], env=self.env, stderr=log
            )
        wait_until(self._ready, 60, lambda: f"downstream not ready: {self.log.read_text()}")
        if self.warm:
            self._warm_up()
        with self.store() as store:  # what the server publishes itself (OperationDefinitions…)
            self.own = set(_resources(store))
        return self

    def _warm_up(self) -> None:
        """Load the validation models of every type a report holds (two seconds of imports
        on a first write), with writes refused as invalid: nothing is stored."""
        for resource_type in REPORT_TYPES:
            answer = httpx.put(
                f"{self.base}/{resource_type}/warm-up",
                json={"resourceType": resource_type, "id": "warm-up", "language": 7},
                headers={"Authorization": f"Bearer {self.key}"} if self.key else {},
                timeout=30,
            )
            assert 400 <= answer.status_code < 500, answer.text

    def _ready(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """Its store, opened beside the server (SQLite WAL: readers never wait)."""
        store = open_store(self.database_url)
        try:
            yield store
        finally:
            store.close()


def fast_config(
    base: str, worker: dict[str, float] | None = None, **destination: Any
) -> ForwardingConfig:
    table = {"base": base, "timeout": 3.0} | destination
    timings = FAST_WORKER | (worker or {})
    return parse_config({"worker": timings, "destinations": {"downstream": table}})


def write_config(
    path: Path, base: str, worker: dict[str, float] | None = None, **destination: Any
) -> Path:
    """The same configuration as `fast_config`, as a BRIDGE_FORWARD_CONFIG file."""
    timings = FAST_WORKER | (worker or {})
    lines = ["[worker]", *(f"{k} = {v}" for k, v in timings.items()), ""]
    lines += ["[destinations.downstream]", f'base = "{base}"']
    lines += [f"{k} = {v!r}" for k, v in ({"timeout": 3.0} | destination).items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def running_worker(
    store: Store, config: ForwardingConfig, name: str | None = None
) -> Iterator[Forwarding]:
    """The enqueue step on `store` and a worker thread, as `crbio serve` runs them."""
    forwarding = Forwarding(store, config).install()
    forwarding.start_worker(name)
    try:
        yield forwarding
    finally:
        forwarding.stop()
        store.after_ingest = None


def wait_until(
    condition: Callable[[], bool], timeout: float = 30, message: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message() or "timed out"
        time.sleep(0.05)


def _resources(store: Store) -> dict[tuple[str, str], bool]:
    with store.db.read() as cursor:
        cursor.execute("SELECT resource_type, id, deleted FROM resource")
        return {(t, i): bool(d) for t, i, d in cursor.fetchall()}


def _content(store: Store, resource_type: str, resource_id: str) -> dict[str, Any]:
    resource = store.read(resource_type, resource_id).resource()
    meta = resource.pop("meta")
    assert set(meta) == {"versionId", "lastUpdated"}, meta
    return resource


def assert_mirrored(upstream: Store, server: Server) -> None:
    """The downstream server's store holds what the upstream one holds, resource by
    resource: same ids, same content apart from meta, deleted alike (or never sent), and
    no more versions than upstream (a delivery repeated with the same content adds none).
    What the server published itself at start is left aside."""
    with server.store() as downstream:
        _assert_mirrored(upstream, downstream, server.own)


def _assert_mirrored(upstream: Store, downstream: Store, own: set[tuple[str, str]]) -> None:
    up = {k: d for k, d in _resources(upstream).items() if k not in own}
    down = {k: d for k, d in _resources(downstream).items() if k not in own}
    assert set(down) <= set(up), f"downstream has more: {sorted(set(down) - set(up))[:5]}"
    for key, deleted in up.items():
        if deleted:
            assert down.get(key, True), f"{key} deleted upstream, current downstream"
            continue
        assert key in down and not down[key], f"{key} missing downstream"
        assert _content(downstream, *key) == _content(upstream, *key), key
        versions = len(downstream.history(*key))
        assert versions <= len(upstream.history(*key)), f"{key}: {versions} versions downstream"
