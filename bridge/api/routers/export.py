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

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from bridge.api.outcomes import FhirResponse, outcome
from bridge.api.requests import FHIR_TYPES, base_url, read_resource
from bridge.api.state import app_state
from bridge.export.errors import ExportNotFound
from bridge.export.request import Level, parameter_pairs, parse_kickoff
from bridge.export.service import Progress
from bridge.mapping import dumps
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
    _query("_outputFormat", "application/fhir+ndjson (also application/ndjson, ndjson)"),
    _query("_since", "only resources updated after this FHIR instant", format="date-time"),
    _query("_type", "comma-separated resource types"),
    _query("_typeFilter", "FHIR searches Type?param=value, comma-separated, OR'ed per type"),
    _PREFER,
]
SYSTEM_QUERY = {"parameters": _COMMON}
PATIENT_QUERY = {"parameters": [*_COMMON, _query("patient", "Patient/<id>, comma-separated")]}
PARAMETERS_BODY = {
    "parameters": [_PREFER],
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "object"}} for t in FHIR_TYPES},
    },
}


def _status_url(request: Request, job_id: str) -> str:
    return f"{base_url(request)}/$export-status/{job_id}"


async def _kick_off(request: Request, level: Level, *, body: bool) -> Response:
    state = app_state(request)
    client = state.auth.require(request, "read").name
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


@router.get(
    "/$export",
    openapi_extra=SYSTEM_QUERY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the whole server (kick-off)",
)
async def export_system(request: Request) -> Response:
    return await _kick_off(request, "system", body=False)


@router.post(
    "/$export",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the whole server (kick-off, Parameters body)",
)
async def export_system_post(request: Request) -> Response:
    return await _kick_off(request, "system", body=True)


@router.get(
    "/Patient/$export",
    openapi_extra=PATIENT_QUERY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the patients' compartments (kick-off)",
)
async def export_patients(request: Request) -> Response:
    return await _kick_off(request, "patient", body=False)


@router.post(
    "/Patient/$export",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    status_code=202,
    summary="Bulk Data export of the patients' compartments (kick-off, Parameters body)",
)
async def export_patients_post(request: Request) -> Response:
    return await _kick_off(request, "patient", body=True)


def _http_date(micros: int) -> str:
    return format_datetime(datetime.fromtimestamp(micros / 1_000_000, UTC), usegmt=True)


@router.get(
    "/$export-status/{job_id}", summary="Status of a bulk export; its manifest once complete"
)
def export_status(job_id: str, request: Request) -> Response:
    state = app_state(request)
    job = state.exports.job(job_id, state.auth.require(request, "read").name)
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
)
def export_delete(job_id: str, request: Request) -> Response:
    state = app_state(request)
    state.exports.cancel(job_id, state.auth.require(request, "read").name)
    return FhirResponse(
        outcome("information", "informational", f"export {job_id} deleted"), status_code=202
    )


@router.get(
    "/$export-file/{job_id}/{file_no}",
    summary="A file of a complete bulk export (NDJSON)",
    responses={200: {"content": {NDJSON: {}}}},
)
def export_file(job_id: str, file_no: str, request: Request) -> Response:
    state = app_state(request)
    client = state.auth.require(request, "read").name
    if not file_no.isdigit() or len(file_no) > 9:
        raise ExportNotFound(f"export {job_id} has no file {file_no!r}")
    file, chunks = state.exports.file(job_id, int(file_no), client)
    return StreamingResponse(chunks, media_type=NDJSON, headers={"Content-Length": str(file.bytes)})
