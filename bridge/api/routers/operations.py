"""FHIR operations: $convert, $ingest, ConceptMap/$translate, CodeSystem/$lookup."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridge.api.outcomes import FhirResponse
from bridge.api.requests import CDA_TYPES, FHIR_TYPES, read_body, read_resource
from bridge.api.state import AppState, app_state
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
PARAMETERS_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "object"}} for t in FHIR_TYPES},
    }
}
MAX_PARAMETERS_BYTES = 1_000_000


async def _converted(request: Request, scope: str) -> tuple[AppState, Conversion]:
    """The posted CDA document, converted (in a worker thread: conversion is CPU work)."""
    state = app_state(request)
    state.auth.require(request, scope)
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
    state = app_state(request)
    state.auth.require(request, "read")
    pairs: list[tuple[str, Any]]
    if body:
        pairs = from_parameters(await read_resource(request, MAX_PARAMETERS_BYTES))
    else:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    if operation == "translate":
        answer = await state.terminology.translate(parse_translate(pairs))
    else:
        answer = await state.terminology.lookup(parse_lookup(pairs))
    return FhirResponse(dumps(answer.parameters), headers={"X-Crbio-Origin": answer.origin})


@router.get(
    "/ConceptMap/$translate",
    response_class=FhirResponse,
    summary="Translate a code with the JDV Circuit de la biologie (R4 and R5 names)",
)
async def translate_get(request: Request) -> Response:
    return await _terminology(request, "translate", body=False)


@router.post(
    "/ConceptMap/$translate",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    summary="Translate a code (Parameters in the body)",
)
async def translate_post(request: Request) -> Response:
    return await _terminology(request, "translate", body=True)


@router.get(
    "/CodeSystem/$lookup",
    response_class=FhirResponse,
    summary="French display and JDV properties of a code",
)
async def lookup_get(request: Request) -> Response:
    return await _terminology(request, "lookup", body=False)


@router.post(
    "/CodeSystem/$lookup",
    openapi_extra=PARAMETERS_BODY,
    response_class=FhirResponse,
    summary="$lookup with a Parameters body",
)
async def lookup_post(request: Request) -> Response:
    return await _terminology(request, "lookup", body=True)
