"""FHIR Bulk Data export (v2): kick-off, status polling, deletion, and the NDJSON files.

`bridge.export` does the work; this router reads requests and writes answers:

- `GET|POST /fhir/$export`, `GET|POST /fhir/Patient/$export`: 202 and `Content-Location`
  (the status URL). Without `Prefer: respond-async` the kick-off is processed as if it
  had been sent, which the specification allows ("the server MAY … process the request
  as if respond-async was supplied").
- `GET` status URL: 202 with `X-Progress` and `Retry-After` while the export runs; 200
  with the manifest (`application/json`, `Expires`) once complete; 500 with the
  OperationOutcome of a failed export; 404 once deleted or expired.
- `DELETE` status URL: 202; the export stops and its files are deleted.
- `GET` file URL: the NDJSON, `application/fhir+ndjson`, streamed chunk by chunk.

Every request needs the `read` scope when credentials are configured (then the manifest
says `requiresAccessToken: true`), and only the client that kicked an export off may
poll, download or delete it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from bridge.api import openapi
from bridge.api.openapi import documented, refusal
from bridge.api.outcomes import FhirResponse, outcome
from bridge.api.requests import base_url, read_resource
from bridge.api.state import AppState, app_state
from bridge.export.compartment import PATIENT_LEVEL_TYPES
from bridge.export.errors import ExportNotFound
from bridge.export.request import Level, parameter_pairs, parse_kickoff
from bridge.export.service import Progress
from bridge.mapping import dumps
from bridge.store.indexing import SEARCH_PARAMETERS
from bridge.store.records import now_micros

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["bulk export"])
NDJSON = "application/fhir+ndjson"
MAX_PARAMETERS_BYTES = 1_000_000


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", **schema},
        "description": description,
    }


_PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "respond-async (assumed when absent); handling=lenient to have "
    "unsupported parameters left aside instead of refused",
}
_COMMON = [
    _query(
        "_outputFormat",
        "application/fhir+ndjson (also application/ndjson, ndjson)",
        enum=["application/fhir+ndjson", "application/ndjson", "ndjson"],
    ),
    _query("_since", "only resources updated after this FHIR instant", format="date-time"),
    _query("_typeFilter", "FHIR searches Type?param=value, comma-separated, OR'ed per type"),
    _PREFER,
]


def _types(types: Iterable[str]) -> dict[str, Any]:
    one = "(" + "|".join(sorted(types)) + ")"
    return _query("_type", "comma-separated resource types", pattern=f"^({one}(,{one})*)?$")


_PATIENTS = "Patient/[A-Za-z0-9\\-.]{1,64}"
SYSTEM_QUERY = {"parameters": [*_COMMON, _types(SEARCH_PARAMETERS)]}
PATIENT_QUERY = {
    "parameters": [
        *_COMMON,
        _types(PATIENT_LEVEL_TYPES),
        _query("patient", "Patient/<id>, comma-separated", pattern=f"^{_PATIENTS}(,{_PATIENTS})*$"),
    ]
}
PARAMETERS_BODY = {"parameters": [_PREFER], **openapi.PARAMETERS_BODY}


def _status_url(request: Request, job_id: str) -> str:
    return f"{base_url(request)}/$export-status/{job_id}"


async def _kick_off(request: Request, level: Level, *, body: bool) -> Response:
    state = app_state(request)
    client = (await state.auth.require(request, "read")).name
    url = base_url(request) + request.url.path.removeprefix("/fhir")
    if body:
        pairs = parameter_pairs(await read_resource(request, MAX_PARAMETERS_BYTES))
    else:
        pairs = list(request.query_params.multi_items())
        url += f"?{request.url.query}" if request.url.query else ""
    lenient = "handling=lenient" in request.headers.get("prefer", "").replace(" ", "")
    export = parse_kickoff(level, pairs, lenient=lenient)
    job_id = await run_in_threadpool(state.exports.kick_off, export, url, client)
    location = _status_url(request, job_id)
    return FhirResponse(
        outcome("information", "informational", f"export accepted; its status: {location}"),
        status_code=202,
        headers={"Content-Location": location},
    )


_KICKED_OFF = documented(400, 422, 429, 503, answer="OperationOutcome", success=202, read=True)
_KICKED_OFF_POSTED = documented(
    400, 413, 415, 422, 429, 503, answer="OperationOutcome", success=202, read=True
)


@router.get(
    "/$export",
    openapi_extra=SYSTEM_QUERY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the whole server (kick-off)",
    responses=_KICKED_OFF,
)
async def export_system(request: Request) -> Response:
    return await _kick_off(request, "system", body=False)


@router.post(
    "/$export",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the whole server (kick-off, Parameters body)",
    responses=_KICKED_OFF_POSTED,
)
async def export_system_post(request: Request) -> Response:
    return await _kick_off(request, "system", body=True)


@router.get(
    "/Patient/$export",
    openapi_extra=PATIENT_QUERY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the patients' compartments (kick-off)",
    responses=_KICKED_OFF,
)
async def export_patients(request: Request) -> Response:
    return await _kick_off(request, "patient", body=False)


@router.post(
    "/Patient/$export",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the patients' compartments (kick-off, Parameters body)",
    responses=_KICKED_OFF_POSTED,
)
async def export_patients_post(request: Request) -> Response:
    return await _kick_off(request, "patient", body=True)


def _http_date(micros: int) -> str:
    return format_datetime(datetime.fromtimestamp(micros / 1_000_000, UTC), usegmt=True)


@router.get(
    "/$export-status/{job_id}",
    summary="Status of a bulk export; its manifest once complete",
    responses={
        200: {
            "description": "The manifest of the complete export",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        202: {"description": "Still running: X-Progress and Retry-After, no body"},
        **{
            status: refusal(status)
            for status in (400, 401, 403, 404, 503)  # and 500 with the failed export's outcome
        },
    },
)
async def export_status(job_id: str, request: Request) -> Response:
    state = app_state(request)
    client = (await state.auth.require(request, "read")).name
    return await run_in_threadpool(_status, request, state, job_id, client)


def _status(request: Request, state: AppState, job_id: str, client: str) -> Response:
    job = state.exports.job(job_id, client)
    if job.status == "completed":
        base = base_url(request)
        manifest = state.exports.manifest(
            job,
            lambda file: f"{base}/$export-file/{job.id}/{file.file_no}",
            requires_token=not state.auth.open,
        )
        headers = {"Expires": _http_date(job.expires_at)} if job.expires_at else {}
        return Response(dumps(manifest), media_type="application/json", headers=headers)
    if job.status == "failed":
        return FhirResponse(job.outcome, status_code=500)
    progress = Progress(job, now_micros())
    return Response(
        status_code=202,
        headers={"X-Progress": progress.text, "Retry-After": str(progress.retry_after)},
    )


@router.delete(
    "/$export-status/{job_id}",
    response_class=FhirResponse,
    status_code=202,
    summary="Cancel a bulk export, or delete its files",
    responses=documented(400, 404, answer="OperationOutcome", success=202, read=True),
)
async def export_delete(job_id: str, request: Request) -> Response:
    state = app_state(request)
    client = (await state.auth.require(request, "read")).name
    await run_in_threadpool(state.exports.cancel, job_id, client)
    return FhirResponse(
        outcome("information", "informational", f"export {job_id} deleted"), status_code=202
    )


@router.get(
    "/$export-file/{job_id}/{file_no}",
    response_class=StreamingResponse,  # NDJSON, as documented below, never JSON
    summary="A file of a complete bulk export (NDJSON)",
    responses={
        200: {
            "description": "The NDJSON file",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        **{status: refusal(status) for status in (400, 401, 403, 404, 503)},
    },
)
async def export_file(job_id: str, file_no: str, request: Request) -> Response:
    state = app_state(request)
    client = (await state.auth.require(request, "read")).name
    if not (file_no.isascii() and file_no.isdigit()) or len(file_no) > 9:
        raise ExportNotFound(f"export {job_id} has no file {file_no!r}")
    file, chunks = await run_in_threadpool(state.exports.file, job_id, int(file_no), client)
    return StreamingResponse(chunks, media_type=NDJSON, headers={"Content-Length": str(file.bytes)})
