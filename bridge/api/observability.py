"""Health, readiness, Prometheus metrics, and JSON access logs that carry no patient data.

A log line names the method, the route template (`/fhir/{resource_type}/{resource_id}`,
never the concrete path or the query string, which may hold an INS), the status and
the duration.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from bridge.api.state import app_state

__all__ = ["JsonFormatter", "access_log", "router"]

router = APIRouter(tags=["service"])
log = logging.getLogger("bridge.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, ensure_ascii=False)


async def access_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    start = time.perf_counter()
    response = await call_next(request)
    elapsed = time.perf_counter() - start
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    state = getattr(request.app.state, "bridge", None)
    if state is not None:
        state.metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        state.metrics.latency.labels(request.method, template).observe(elapsed)
    log.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "route": template,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
            }
        },
    )
    return response


@router.get("/healthz", summary="The process answers")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="The store answers")
def readyz(request: Request) -> JSONResponse:
    try:
        ready = app_state(request).store.ping()
    except Exception as exc:  # any database failure means not ready
        return JSONResponse({"status": "unavailable", "store": type(exc).__name__}, status_code=503)
    return JSONResponse(
        {"status": "ok" if ready else "unavailable"}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(app_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
