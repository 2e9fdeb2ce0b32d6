"""Health, readiness, Prometheus metrics, and JSON logs that carry no patient data.

A log line names the method, the route template (`/fhir/{resource_type}/{resource_id}`,
never the concrete path or the query string, which may hold an INS), the status and
the duration. An unexpected error is logged the same way: route template, an error id
(also given to the client), the exception's type and where it was raised (file, line,
function), never its message, which may quote a value of the request.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import uuid
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.api.outcomes import error_response, is_fhir_path
from bridge.api.state import app_state

__all__ = ["METRICS_TYPE", "AccessLog", "JsonFormatter", "report_unexpected", "router"]

router = APIRouter(tags=["service"])
log = logging.getLogger("bridge.access")
errors = logging.getLogger("bridge.api")
METRICS_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus scrapes
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")  # never in a path this API serves
# Methods named in metrics and logs as they are; any other token a client sends is
# "other", so that made-up methods cannot grow the metrics without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})
CLIENT_GONE = 499  # nginx's "client closed request": no answer could be delivered


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:  # the type, never the message
            line["error"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


_PAGE_REFUSAL = HTMLResponse(
    '<!doctype html><html lang="fr"><meta charset="utf-8"><title>Demande incomplète</title>'
    "<h1>Demande incomplète</h1><p>L'adresse demandée contient un caractère de contrôle : "
    'elle ne mène à aucune page.</p><p><a href="/">Retour à la liste des patients</a></p>',
    status_code=400,
    headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-store"},
)


class AccessLog:
    """ASGI middleware: one log line and the metrics of each request; an unexpected
    exception becomes a 500 OperationOutcome carrying an error id, logged without data.
    A path holding a control character is a 400 before any route sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _CONTROL_CHARACTERS.search(scope["path"]):  # "\n" would even match routes' "$"
            refusal = (
                error_response(400, "invalid", "the path holds a control character")
                if is_fhir_path(scope["path"])
                else _PAGE_REFUSAL  # a page's address: a page, in French
            )
            await refusal(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        recorded = False

        async def sending(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                recorded = True  # before the last byte leaves: the client never sees it first
                self._record(scope, status, time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:  # the client left before its body ended: not our error
            status = status or CLIENT_GONE
        except Exception as exc:  # noqa: BLE001 - the last resort: a 500, never a traceback
            error_id = report_unexpected(exc, scope)
            if status == 0:
                response = error_response(
                    500, "exception", f"internal error; reported under error id {error_id}"
                )
                await response(scope, receive, sending)
        finally:
            if not recorded:  # the answer never ended: the client went away, or an error
                self._record(scope, status or 500, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        template = _route(scope)
        state = getattr(scope["app"].state, "bridge", None)
        if state is not None:
            state.metrics.requests.labels(method, template, str(status)).inc()
            state.metrics.latency.labels(method, template).observe(elapsed)
        log.info(
            "request",
            extra={
                "fields": {
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                }
            },
        )


def report_unexpected(exc: BaseException, scope: Scope) -> str:
    """Log an unexpected error as this module logs everything (route template, type,
    frames, never the path or the message); the error id to give the client."""
    error_id = uuid.uuid4().hex[:16]
    errors.error(
        "unexpected error",
        extra={"fields": {**_where(exc), "route": _route(scope), "error_id": error_id}},
    )
    return error_id


def _route(scope: Scope) -> str:
    """The template of the route that took the request, never the concrete path."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


def _where(exc: BaseException) -> dict[str, Any]:
    """The exception's type and its frames (file:line function), without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "error": type(exc).__name__,
        "frames": [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames[-6:]],
    }


_HEALTH = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}


@router.get(
    "/healthz", summary="The process answers", responses={200: {"description": "Up"} | _HEALTH}
)
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="The store answers",
    responses={
        200: {"description": "Ready"} | _HEALTH,
        503: {"description": "The store does not answer"} | _HEALTH,
    },
)
def readyz(request: Request) -> JSONResponse:
    try:
        ready = app_state(request).store.ping()
    except Exception as exc:  # any database failure means not ready
        return JSONResponse({"status": "unavailable", "store": type(exc).__name__}, status_code=503)
    return JSONResponse(
        {"status": "ok" if ready else "unavailable"}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The Prometheus text format, version 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(app_state(request).metrics.registry), media_type=METRICS_TYPE)
