"""Forwarding to a real downstream FHIR server on loopback (this app, in its own process, on
its own store) through a fault-injecting proxy: outages, errors, rate limits, slow
answers, a worker killed mid-delivery, two workers on one PostgreSQL, order per patient.

Every scenario ends by comparing the two stores resource by resource.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path

import httpx
from typer.testing import CliRunner

from bridge.api.auth import hash_key
from bridge.cli.main import app
from bridge.forwarding import Forwarding, Outbox
from bridge.forwarding.outbox import DEAD, DELIVERED, IN_FLIGHT, PENDING
from bridge.mapping import convert
from bridge.store import Store, open_store
from tests.forwarding.downstream import (
    CRBIO,
    Server,
    assert_mirrored,
    environment,
    fast_config,
    running_worker,
    wait_until,
    write_config,
)
from tests.forwarding.proxy import Fault, proxied
from tests.helpers import EXAMPLES, example_files
from tests.serving import free_port
from tests.stores import postgres_schema

ORIGINAL, REPLACEMENT = EXAMPLES / "glucose-two-units.xml", EXAMPLES / "glucose-replacement.xml"
EVERY = example_files()  # the project's example documents, PDF copies included
SOME = [EXAMPLES / n for n in ("haemogram-battery.xml", "n1-pdf-only.xml", "trod-covid.xml")]
CDA = {"Content-Type": "application/hl7-cda+xml"}


def _states(store: Store) -> Counter[str]:
    return Counter(row.state for row in Outbox(store).rows(limit=1000))


def _all(store: Store, state: str, count: int) -> bool:
    return _states(store) == Counter({state: count})


def _ingest(store: Store, *paths: Path) -> list[str]:
    """Ingest; the DocumentReference of each document, as its Bundle names it."""
    documents = []
    for path in paths:
        conversion = convert(path.read_bytes())
        store.ingest(conversion)
        documents += [
            f"DocumentReference/{r['id']}"
            for r in conversion.resources()
            if r["resourceType"] == "DocumentReference"
        ]
    return documents


def test_a_destination_down_for_a_while_gets_everything_exactly_once(tmp_path: Path) -> None:
    """`crbio serve` with BRIDGE_FORWARD_CONFIG: `$ingest` enqueues, its own worker delivers."""
    with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
        proxy.down()
        config = write_config(tmp_path / "forward.toml", f"{proxy.url}/fhir")
        with Server(tmp_path / "up", warm=False, BRIDGE_FORWARD_CONFIG=str(config)) as upstream:
            with upstream.store() as store:
                for path in [*SOME, ORIGINAL]:
                    answer = httpx.post(
                        f"{upstream.base}/$ingest", content=path.read_bytes(), headers=CDA
                    )
                    assert answer.status_code == 200, answer.text
                wait_until(lambda: any(r.last_error for r in Outbox(store).rows()))
                time.sleep(1.5)  # down for a while: probed, never hammered, no attempt used up
                assert _states(store) == Counter({PENDING: 4}) and proxy.deliveries == []
                assert {r.attempts for r in Outbox(store).rows()} == {0}
                proxy.up()
                wait_until(lambda: _all(store, DELIVERED, 4), 30, lambda: str(_states(store)))
                metrics = httpx.get(f"{upstream.url}/metrics").text
        assert len(set(proxy.documents())) == 4  # every one; a repeat (lost answer) is harmless:
        assert 'crbio_forward_rows{destination="downstream",state="delivered"} 4.0' in metrics
        with upstream.store() as store:
            assert_mirrored(store, downstream)  # one version downstream for each one upstream


def test_errors_rate_limits_and_slow_answers_are_retried(upstream: Store, tmp_path: Path) -> None:
    retry_after = Fault(status=429, headers={"Retry-After": "1"})
    with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
        proxy.fail(
            Fault(status=500),
            retry_after,
            Fault(delay=0.3),  # slow, in time
            Fault(delay=1.5),  # slower than the timeout: answered downstream, not to us
            Fault(status=503),
            Fault(status=502),
        )
        config = fast_config(f"{proxy.url}/fhir", max_attempts=10, timeout=1.0)
        with running_worker(upstream, config):
            documents = _ingest(upstream, *SOME, ORIGINAL)
            wait_until(lambda: _all(upstream, DELIVERED, 4), 30, lambda: str(_states(upstream)))
        assert set(proxy.documents()) == set(documents)  # every one
        limited = next(d for d in proxy.deliveries if d.fault == retry_after)
        after = [d.started for d in proxy.deliveries if d.document == limited.document]
        assert after[-1] - (limited.ended or 0) >= 0.95  # Retry-After honoured
        assert any(row.attempts > 1 for row in Outbox(upstream).rows())
        assert_mirrored(upstream, downstream)  # the late answer's repeat added no version


def test_a_worker_killed_mid_delivery_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    upstream_url = f"sqlite:///{tmp_path / 'upstream.sqlite3'}"
    log = tmp_path / "worker.log"
    short = {"lease": 2.0}  # the killed worker's claim lapses soon
    with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
        base = f"{proxy.url}/fhir"
        with closing(open_store(upstream_url)) as store:
            Forwarding(store, fast_config(base, short, timeout=1.5)).install()
            _ingest(store, *EVERY)
        settings = write_config(tmp_path / "f.toml", base, short, timeout=1.5)
        env = environment(BRIDGE_DATABASE_URL=upstream_url, BRIDGE_FORWARD_CONFIG=str(settings))
        proxy.fail(Fault(), Fault(), Fault(hold=True))  # the third delivery waits for us
        with log.open("wb") as output:
            worker = subprocess.Popen([str(CRBIO), "forward", "run"], env=env, stderr=output)
        assert proxy.arrived.wait(60), log.read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        held = next(d for d in proxy.deliveries if d.fault and d.fault.hold)
        proxy.release()  # the downstream now stores what the dead worker sent
        wait_until(lambda: held.forwarded == 200)
        with closing(open_store(upstream_url)) as store:
            [row] = [r for r in Outbox(store).rows() if r.document == held.document]
            assert row.state == IN_FLIGHT  # its claim lapses: another worker takes it
            with workers(1, env, log):
                wait_until(
                    lambda: _all(store, DELIVERED, len(EVERY)), 60, lambda: str(_states(store))
                )
            assert proxy.stored().count(held.document) >= 2  # sent again, harmlessly
            assert_mirrored(store, downstream)
            with downstream.store() as down:
                versions = {len(down.history(*key.split("/"))) for key in _keys(store)}
                assert versions == {1}  # every resource stored once: no duplicate delivery


def _keys(store: Store) -> list[str]:
    return [ref for row in Outbox(store).rows() for ref, _ in row.put]


@contextmanager
def workers(count: int, env: dict[str, str], log: Path) -> Iterator[None]:
    """`crbio forward run` processes, each ready (its /healthz answers) when this yields."""
    ports = [free_port() for _ in range(count)]
    with log.open("wb") as output:
        started = [
            subprocess.Popen(
                [str(CRBIO), "forward", "run", "--port", str(port)], env=env, stderr=output
            )
            for port in ports
        ]
    try:
        for process, port in zip(started, ports, strict=True):
            wait_until(partial(_healthy, process, port), 60, log.read_text)
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            assert process.wait(timeout=30) == 0, log.read_text()


def _healthy(process: subprocess.Popen[bytes], port: int) -> bool:
    assert process.poll() is None
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_two_workers_on_postgresql_never_deliver_a_row_twice_at_once(tmp_path: Path) -> None:
    """Two workers, each with its own connection pool (as two replicas have), one outbox."""
    with postgres_schema() as upstream_url, closing(open_store(upstream_url)) as store:
        with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
            proxy.fail(*[Fault(delay=0.3)] * len(EVERY))  # slow answers: windows to collide in
            config = fast_config(f"{proxy.url}/fhir")
            Forwarding(store, config).install()
            with (
                closing(open_store(upstream_url)) as first,
                closing(open_store(upstream_url)) as second,
            ):
                with running_worker(first, config, "w1"), running_worker(second, config, "w2"):
                    documents = _ingest(store, *EVERY)
                    wait_until(
                        lambda: _all(store, DELIVERED, len(EVERY)), 60, lambda: str(_states(store))
                    )
            assert proxy.overlapping() == []
            assert sorted(proxy.documents()) == sorted(documents)  # each exactly once
            deliverers = {row.claim.rsplit(":", 1)[0] for row in Outbox(store).rows() if row.claim}
            assert len(deliverers) == 2  # both took their share
            assert_mirrored(store, downstream)


def test_a_replacement_never_overtakes_the_report_it_replaces(
    upstream: Store, tmp_path: Path
) -> None:
    with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
        proxy.fail(Fault(status=503), Fault(delay=0.2))
        with running_worker(upstream, fast_config(f"{proxy.url}/fhir")):
            original, replacement = _ingest(upstream, ORIGINAL, REPLACEMENT)
            wait_until(lambda: _all(upstream, DELIVERED, 2), 30, lambda: str(_states(upstream)))
        assert proxy.documents() == [original, replacement]
        assert_mirrored(upstream, downstream)
        with downstream.store() as down:
            assert down.read(*original.split("/")).resource()["status"] == "superseded"


def test_a_refusal_is_dead_at_once_and_retry_sends_it_again(tmp_path: Path) -> None:
    """… to a downstream server that takes writes with an API key only (a bearer token)."""
    upstream_url = f"sqlite:///{tmp_path / 'upstream.sqlite3'}"
    refusal = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "profile not met"}],
    }
    key = "forwarding-key-5b21"
    secured = {"key": key, "BRIDGE_API_KEYS": f"forwarder:{hash_key(key)}:read+write"}
    with Server(tmp_path / "down", **secured) as downstream, proxied(downstream.url) as proxy:
        proxy.fail(Fault(status=422, body=refusal))
        config = fast_config(f"{proxy.url}/fhir", auth={"type": "bearer", "token": key})
        with closing(open_store(upstream_url)) as store:
            with running_worker(store, config):
                _ingest(store, *SOME)
                wait_until(lambda: _states(store) == Counter({DELIVERED: 2, DEAD: 1}))
                [dead] = Outbox(store).rows(DEAD)
                assert (dead.attempts, dead.last_error) == (1, "HTTP 422: profile not met")
                assert Outbox(store).outcome(dead.id) == refusal
                env = {"BRIDGE_DATABASE_URL": upstream_url}
                status = CliRunner().invoke(app, ["forward", "status"], env=env)
                assert status.exit_code == 0 and "profile not met" in status.stdout
                retried = CliRunner().invoke(app, ["forward", "retry", "--dead"], env=env)
                assert retried.exit_code == 0 and "1 row(s) due again" in retried.stdout
                wait_until(lambda: _all(store, DELIVERED, 3))
            assert_mirrored(store, downstream)


def test_client_credentials_are_renewed_before_expiry_and_on_401(
    upstream: Store, tmp_path: Path
) -> None:
    with Server(tmp_path / "down") as downstream, proxied(downstream.url) as proxy:
        proxy.token_lifetime = 60.0
        auth = {
            "type": "client-credentials",
            "token_url": f"{proxy.url}/token",
            "client_id": "crbio",
            "client_secret": "s3cret",
        }
        with running_worker(upstream, fast_config(f"{proxy.url}/fhir", auth=auth)):
            _ingest(upstream, SOME[0])
            wait_until(lambda: _all(upstream, DELIVERED, 1))
            proxy.require_token = "revoked"  # the server forgets the token
            proxy.token_lifetime = 1.0  # the next one is renewed 0.1 s before it ends
            _ingest(upstream, SOME[1])
            wait_until(lambda: _all(upstream, DELIVERED, 2))
            assert proxy.tokens_issued == 2
            assert [d.status for d in proxy.deliveries] == [200, 401, 200]  # renewed on a 401
            time.sleep(1.0)  # the second token expires
            _ingest(upstream, SOME[2])
            wait_until(lambda: _all(upstream, DELIVERED, 3))
        assert proxy.tokens_issued == 3  # the second one expired: renewed before sending
        assert [d.status for d in proxy.deliveries] == [200, 401, 200, 200]
        assert [r.attempts for r in Outbox(upstream).rows()] == [1, 1, 1]
        assert_mirrored(upstream, downstream)
