"""FHIR operations: $convert, $ingest, ConceptMap/$translate, CodeSystem/$lookup."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridge.api.openapi import PARAMETERS_BODY, documented
from bridge.api.outcomes import ApiError, FhirResponse
from bridge.api.requests import CDA_TYPES, read_body, read_resource
from bridge.api.state import AppState, authorized
from bridge.api.validation import check_parameters
from bridge.mapping import Conversion, convert, dumps
from bridge.terminology.operations import from_parameters, parse_lookup, parse_translate

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["operations"])

CDA_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in CDA_TYPES},
    }
}
MAX_PARAMETERS_BYTES = 1_000_000
MAX_OPERATION_PARAMETERS = 50  # a $translate or $lookup names a handful


def _query(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1, "pattern": r"^[^\x00-\x1f\x7f]+$"}
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


TRANSLATE_QUERY = {
    "parameters": [
        _query("system", "the code's system (http://loinc.org for the JDV)", required=True),
        _query("code", "the code to translate", required=True),
        _query("url", "the ConceptMap (default: the JDV Circuit de la biologie)"),
        _query("conceptMapVersion", "its version"),
        _query("targetsystem", "the system to translate to"),
        {
            "name": "reverse",
            "in": "query",
            "description": "translate from target to source",
            "schema": {"type": "boolean"},
        },
    ]
}
LOOKUP_QUERY = {
    "parameters": [
        _query("system", "the code's system", required=True),
        _query("code", "the code to look up", required=True),
        _query("property", "a property to return (all by default)"),
    ]
}


async def _converted(request: Request, scope: str) -> tuple[AppState, Conversion]:
    """The posted CDA document, converted (in a worker thread: conversion is CPU work)."""
    state = await authorized(request, scope)
    data = await read_body(request, state.settings.max_document_bytes, CDA_TYPES)

    def converted() -> Conversion:  # one worker-thread hop: the options may read the store
        options = state.terminology.conversion_options()
        return convert(data, max_bytes=state.settings.max_document_bytes, **options)

    conversion = await run_in_threadpool(converted)
    state.metrics.issues.inc(len(conversion.issues))
    return state, conversion


@router.post(
    "/$convert",
    openapi_extra=CDA_BODY,
    response_class=FhirResponse,
    summary="Convert a CR-BIO CDA document to a FHIR transaction Bundle (nothing stored)",
    responses=documented(400, 413, 415, 422, 503, answer="Resource", read=True),
)
async def convert_document(request: Request) -> Response:
    state, conversion = await _converted(request, "read")
    state.metrics.documents.labels("convert").inc()
    return FhirResponse(
        dumps(conversion.bundle), headers={"X-Crbio-Issues": str(len(conversion.issues))}
    )


@router.post(
    "/$ingest",
    openapi_extra=CDA_BODY,
    response_class=FhirResponse,
    summary="Convert a CR-BIO CDA document and store every resource in one transaction",
    responses=documented(400, 409, 413, 415, 422, 503, answer="Bundle", write=True),
)
async def ingest_document(request: Request) -> Response:
    state, conversion = await _converted(request, "write")
    response, changed = await run_in_threadpool(state.store.ingest, conversion)
    state.metrics.documents.labels("ingest" if changed else "ingest-unchanged").inc()
    return FhirResponse(
        dumps(response),
        headers={
            "X-Crbio-Changed": "true" if changed else "false",
            "X-Crbio-Issues": str(len(conversion.issues)),
        },
    )


async def _terminology(
    request: Request, operation: Literal["translate", "lookup"], *, body: bool
) -> Response:
    """Answer $translate or $lookup from query parameters or a Parameters body."""
    state = await authorized(request, "read")
    pairs: list[tuple[str, Any]]
    if body:
        resource = await read_resource(request, MAX_PARAMETERS_BYTES)
        check_parameters(resource)
        pairs = from_parameters(resource)
    else:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    if len(pairs) > MAX_OPERATION_PARAMETERS:
        raise ApiError(
            "invalid-request",
            f"${operation} takes at most {MAX_OPERATION_PARAMETERS} parameters",
        )
    if operation == "translate":
        answer = await state.terminology.translate(parse_translate(pairs))
    else:
        answer = await state.terminology.lookup(parse_lookup(pairs))
    return FhirResponse(dumps(answer.parameters), headers={"X-Crbio-Origin": answer.origin})


_TERMINOLOGY = documented(400, 404, 422, 503, answer="Parameters", read=True)
_TERMINOLOGY_POSTED = documented(400, 404, 413, 415, 422, 503, answer="Parameters", read=True)


@router.get(
    "/ConceptMap/$translate",
    response_class=FhirResponse,
    summary="Translate a code with the JDV Circuit de la biologie (R4 and R5 names)",
    openapi_extra=TRANSLATE_QUERY,
    responses=_TERMINOLOGY,
)
async def translate_get(request: Request) -> Response:
    return await _terminology(request, "translate", body=False)


@router.post(
    "/ConceptMap/$translate",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    summary="Translate a code (Parameters in the body)",
    responses=_TERMINOLOGY_POSTED,
)
async def translate_post(request: Request) -> Response:
    return await _terminology(request, "translate", body=True)


@router.get(
    "/CodeSystem/$lookup",
    response_class=FhirResponse,
    summary="French display and JDV properties of a code",
    openapi_extra=LOOKUP_QUERY,
    responses=_TERMINOLOGY,
)
async def lookup_get(request: Request) -> Response:
    return await _terminology(request, "lookup", body=False)


@router.post(
    "/CodeSystem/$lookup",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    summary="$lookup with a Parameters body",
    responses=_TERMINOLOGY_POSTED,
)
async def lookup_post(request: Request) -> Response:
    return await _terminology(request, "lookup", body=True)
