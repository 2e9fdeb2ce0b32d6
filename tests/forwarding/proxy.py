"""A fault-injecting HTTP proxy on loopback, in front of a real downstream FHIR server.

The test queues faults; each request to the proxy takes the next one (or none: passed
through). `down()` closes the listening socket (clients get "connection refused") and
`up()` opens it again on the same port. Every POSTed Bundle is recorded with the
document it delivers, when it arrived and when the client had its answer or gave up
waiting, so that a test can see the order of deliveries and whether two ever
overlapped. A request whose client is gone still goes on to the downstream server, as
it would through a real network: a worker killed mid-delivery may still deliver.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.serving import free_port

__all__ = ["Fault", "FaultProxy", "Delivery", "proxied"]


@dataclass(frozen=True)
class Fault:
    """What the proxy does to one request, instead of (or before) passing it on."""

    status: int | None = None  # answer this status without passing the request on
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay: float = 0.0  # wait this long first (then pass on, unless `status`)
    hold: bool = False  # wait for `release()`, then pass on (see `arrived`)


@dataclass
class Delivery:
    """One POSTed transaction Bundle as the proxy saw it."""

    document: str | None  # the first DocumentReference the Bundle PUTs (None: DELETEs only)
    started: float
    ended: float | None = None  # answered, or the client gave up (timeout, killed)
    status: int | None = None  # what the client was answered (None: it did not wait)
    forwarded: int | None = None  # what the downstream server answered (None: not sent)
    authorization: str | None = None
    fault: Fault | None = None


class FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults: deque[Fault] = deque()
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Event()  # a held request is waiting
        self.require_token: str | None = None  # answer 401 unless this bearer token comes
        self.token_lifetime: float | None = None  # serve /token (client credentials) when set
        self.client = ("crbio", "s3cret")  # the client /token accepts (HTTP Basic)
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._running: set[asyncio.Task[web.Response]] = set()
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._site: web.TCPSite | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # Control, from the test's thread ----------------------------------------------

    def fail(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def release(self) -> None:
        self._call(self._do_release())

    def down(self) -> None:
        self._call(self._stop_listening())

    def up(self) -> None:
        self._call(self._listen())

    def documents(self, status: int = 200) -> list[str | None]:
        """Documents in the order their deliveries were answered with `status`."""
        with self._lock:
            done = [
                d
                for d in self.deliveries
                if d.document and d.status == status and d.ended is not None
            ]
        return [d.document for d in sorted(done, key=lambda d: d.ended or 0.0)]

    def stored(self) -> list[str | None]:
        """Documents of the Bundles the downstream server took (2xx), whoever waited."""
        with self._lock:
            return [
                d.document
                for d in self.deliveries
                if d.document and d.forwarded and d.forwarded < 300
            ]

    def overlapping(self) -> list[str]:
        """Documents delivered twice at the same time (two requests open together)."""
        with self._lock:
            deliveries = list(self.deliveries)
        found = set()
        for i, a in enumerate(deliveries):
            for b in deliveries[i + 1 :]:
                if (
                    a.document
                    and a.document == b.document
                    and b.started < (a.ended or float("inf"))
                ):
                    if a.started < (b.ended or float("inf")):
                        found.add(str(a.document))
        return sorted(found)

    # The server ----------------------------------------------------------------------

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _do_release(self) -> None:
        assert self._release is not None
        self._release.set()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def _stop_listening(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/token" and self.token_lifetime is not None:
            return await self._token(request)
        body = await request.read()
        delivery = None
        if request.method == "POST" and body:
            delivery = Delivery(
                _document(body),
                time.monotonic(),
                authorization=request.headers.get("Authorization"),
            )
            with self._lock:
                self.deliveries.append(delivery)
        with self._lock:
            fault = self.faults.popleft() if self.faults and delivery else Fault()
        if delivery is not None:
            delivery.fault = fault
        # shielded: a client that leaves (handler cancelled) does not stop the request
        task = asyncio.create_task(self._answer(request, body, fault, delivery))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            response = await asyncio.shield(task)
        finally:
            if delivery is not None:
                delivery.ended = time.monotonic()
        if delivery is not None:
            delivery.status = response.status
        return response

    async def _token(self, request: web.Request) -> web.Response:
        """An OAuth2 token endpoint: client credentials, HTTP Basic; each token replaces the
        previous one (which the proxy then refuses with a 401)."""
        form = await request.post()
        expected = "Basic " + base64.b64encode(":".join(self.client).encode()).decode()
        if form.get("grant_type") != "client_credentials" or (
            request.headers.get("Authorization") != expected
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        self.require_token = f"token-{self.tokens_issued}"
        return web.json_response(
            {
                "access_token": self.require_token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
            }
        )

    async def _answer(
        self, request: web.Request, body: bytes, fault: Fault, delivery: Delivery | None
    ) -> web.Response:
        if fault.hold:
            self.arrived.set()
            assert self._release is not None
            await self._release.wait()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if self.require_token is not None and delivery is not None:
            if request.headers.get("Authorization") != f"Bearer {self.require_token}":
                return web.json_response(_outcome("unknown or expired token"), status=401)
        if fault.status is not None:
            return web.json_response(
                fault.body or _outcome(f"injected {fault.status}"),
                status=fault.status,
                headers=fault.headers,
            )
        passed = {"content-type", "accept", "prefer", "if-match"}
        if self.require_token is None:  # otherwise the proxy checked it, as a gateway would
            passed.add("authorization")
        headers = {k: v for k, v in request.headers.items() if k.lower() in passed}
        async with self._session.request(
            request.method,
            f"{self.target}{request.path_qs}",
            data=body or None,
            headers=headers,
        ) as answer:
            content = await answer.read()
            if delivery is not None:
                delivery.forwarded = answer.status
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() in ("content-type", "location", "etag", "retry-after")
            }
            return web.Response(body=content, status=answer.status, headers=kept)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

        async def close() -> None:
            await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def _document(body: bytes) -> str | None:
    try:
        bundle = json.loads(body)
    except ValueError:
        return None
    for entry in bundle.get("entry", ()) if isinstance(bundle, dict) else ():
        url = entry.get("request", {}).get("url", "")
        if entry.get("request", {}).get("method") == "PUT" and url.startswith("DocumentReference/"):
            return str(url)
    return None


def _outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


@contextmanager
def proxied(target: str) -> Iterator[FaultProxy]:
    with FaultProxy(target) as proxy:
        yield proxy
