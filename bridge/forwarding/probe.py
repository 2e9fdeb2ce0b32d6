"""The standalone worker's HTTP face: `/healthz` for orchestrators, `/metrics` for Prometheus.

Healthy means the worker's loop went round lately and the store answers; a loop stuck
longer than `stale` seconds, or a store that does not answer, is a 503.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bridge.forwarding.worker import Worker

__all__ = ["start_probe"]


async def start_probe(
    worker: Worker, registry: CollectorRegistry, host: str, port: int, *, stale: float = 60.0
) -> web.AppRunner:
    """Serve the probe on `host:port` in the running loop; `await runner.cleanup()` stops it."""

    async def healthz(request: web.Request) -> web.Response:
        late = time.time() - worker.heartbeat
        try:
            store_up = await asyncio.to_thread(worker.store.ping)
        except Exception:  # any database failure means unhealthy
            store_up = False
        healthy = late < stale and store_up
        body = {"status": "ok" if healthy else "unavailable", "loop_seconds_ago": round(late, 1)}
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
