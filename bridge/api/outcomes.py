"""Every error as a FHIR OperationOutcome with the right HTTP status; FHIR JSON responses.

One handler for `BridgeError`: each exception class has a stable `code`, mapped here
to a status and an OperationOutcome issue type. Anything unexpected becomes a 500
OperationOutcome with an error id (see `observability.py`), never an HTML page or a
bare traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from bridge.errors import BridgeError
from bridge.mapping import dumps

__all__ = [
    "FHIR_JSON",
    "STATUS",
    "ApiError",
    "FhirResponse",
    "error_response",
    "install_handlers",
    "is_fhir_path",
    "outcome",
]

FHIR_JSON = "application/fhir+json"

# code of a BridgeError → (HTTP status, OperationOutcome issue type)
STATUS: dict[str, tuple[int, str]] = {
    "too-large": (413, "too-long"),
    "malformed-xml": (400, "structure"),
    "unsafe-xml": (400, "security"),
    "not-cda": (422, "not-supported"),
    "unsupported-document": (422, "not-supported"),
    "too-deep": (422, "too-costly"),
    "invalid-search": (400, "invalid"),
    "invalid-request": (400, "invalid"),
    "not-found": (404, "not-found"),
    "deleted": (410, "deleted"),
    "conflict": (409, "conflict"),
    "precondition-failed": (412, "conflict"),
    "conceptmap-not-found": (404, "not-found"),
    "conversion-refused": (422, "processing"),
    "terminology-unavailable": (503, "transient"),
    "jdv-format": (422, "invalid"),
    "unauthorized": (401, "login"),
    "forbidden": (403, "forbidden"),
    "unsupported-media-type": (415, "not-supported"),
    "invalid-resource": (400, "invalid"),
    "unprocessable": (422, "processing"),
    "export-not-supported": (400, "not-supported"),
    "too-many-requests": (429, "throttled"),
    "unresolved-reference": (422, "not-found"),
    "query-timeout": (503, "too-costly"),
    "query-cancelled": (499, "transient"),  # nginx's "client closed request": nobody reads it
    "keys-unavailable": (503, "transient"),
}


def is_fhir_path(path: str) -> bool:
    """Whether an address is the FHIR API's (errors as OperationOutcomes) rather than a
    page's (errors as French pages)."""
    return path == "/fhir" or path.startswith("/fhir/")


class ApiError(BridgeError):
    """An HTTP-level refusal: `code` is a key of STATUS."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


class FhirResponse(Response):
    """application/fhir+json, serialised with orjson (decimals kept as written)."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dumps(content)


MAX_DIAGNOSTICS = 2_000  # characters: a refusal names the value, it does not echo megabytes


def short(text: str, limit: int = MAX_DIAGNOSTICS) -> str:
    """`text`, cut at `limit` characters with a note of how much was left out: a message
    quoting a client's 1 MB unit or code would send it back whole otherwise.

    >>> short("x" * 10, 4)
    'xxxx… (6 characters left out)'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} characters left out)"


def outcome(
    severity: str, code: str, diagnostics: str, *, location: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": short(diagnostics)}
    if location:
        issue["location"] = [location]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(
    status: int, issue_type: str, message: str, headers: dict[str, str] | None = None
) -> FhirResponse:
    severity = "fatal" if status >= 500 else "error"
    return FhirResponse(outcome(severity, issue_type, message), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(BridgeError)
    async def bridge_error(request: Request, exc: BridgeError) -> Response:
        status, issue_type = STATUS.get(exc.code, (422, "processing"))
        headers = getattr(exc, "headers", None)
        return error_response(status, issue_type, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(400, "invalid", f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        issue_type = {404: "not-found", 405: "not-supported", 401: "login", 403: "forbidden"}.get(
            exc.status_code, "processing"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method this path takes, not one route's
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, issue_type, str(exc.detail), headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def allowed_methods(request: Request) -> str:
    """Every method some route takes at the request's path (RFC 9110 `Allow`), not only
    those of the first route that matched the path."""
    from starlette.routing import Match

    routes = request.app.router.routes
    found = [
        method
        for method in _METHODS
        if method != "HEAD"
        and any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    if "GET" in found:  # bridge.api.head answers HEAD wherever GET is
        found.insert(found.index("GET") + 1, "HEAD")
    return ", ".join(found)
