"""The FHIR REST interface: capabilities, transactions, CRUD, history and search."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridge.api.bundles import history_bundle, search_bundle
from bridge.api.capability import SUPPORTED_TYPES, capability_json
from bridge.api.outcomes import ApiError, FhirResponse
from bridge.api.requests import base_url, read_resource, wants_fhir
from bridge.api.state import AppState, app_state
from bridge.api.validation import check_resource
from bridge.mapping import dumps
from bridge.store import Stored, Written, parse_query
from bridge.store.records import instant
from bridge.store.search import InvalidSearch

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["fhir"])
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
MAX_RESOURCE_BYTES = 60 * 1024 * 1024
RESOURCE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
    }
}


def _type(resource_type: str) -> str:
    if resource_type not in SUPPORTED_TYPES:
        raise ApiError("not-found", f"resource type {resource_type!r} is not served here")
    return resource_type


def _headers(stored: Stored) -> dict[str, str]:
    return {"ETag": stored.etag, "Last-Modified": instant(stored.last_updated)}


def _written(request: Request, written: Written) -> Response:
    stored = written.stored
    headers = _headers(stored)
    headers["Location"] = (
        f"{base_url(request)}/{stored.resource_type}/{stored.id}/_history/{stored.version_id}"
    )
    prefer = request.headers.get("prefer", "")
    status = 201 if written.created else 200
    if "return=minimal" in prefer:
        return Response(status_code=status, headers=headers)
    return FhirResponse(stored.content, status_code=status, headers=headers)


@router.get("/metadata", response_class=FhirResponse, summary="The CapabilityStatement")
async def metadata(request: Request) -> Response:
    state = app_state(request)
    return FhirResponse(capability_json(base_url(request), authenticated=not state.auth.open))


@router.post("/", include_in_schema=False)  # clients post to the base with or without "/"
@router.post(
    "",
    openapi_extra=RESOURCE_BODY,
    response_class=FhirResponse,
    summary="Process a transaction or batch Bundle",
)
async def bundle(request: Request) -> Response:
    state = app_state(request)
    state.auth.require(request, "write")
    body = await read_resource(request, MAX_BUNDLE_BYTES)
    if body.get("resourceType") != "Bundle" or body.get("type") not in ("transaction", "batch"):
        raise ApiError("invalid-resource", "POST /fhir takes a transaction or batch Bundle")
    for entry in body.get("entry", []) or []:
        if not isinstance(entry, dict):
            raise ApiError("invalid-resource", "a Bundle entry must be an object")
        if isinstance(entry.get("resource"), dict):
            check_resource(entry["resource"])
    process = state.store.transaction if body["type"] == "transaction" else state.store.batch
    response = await run_in_threadpool(process, body)
    return FhirResponse(dumps(response))


@router.get("/{resource_type}", response_class=FhirResponse, summary="Search")
def search(resource_type: str, request: Request) -> Response:
    return _search(request, resource_type, list(request.query_params.multi_items()))


@router.post(
    "/{resource_type}/_search", response_class=FhirResponse, summary="Search with form parameters"
)
async def search_post(resource_type: str, request: Request) -> Response:
    from urllib.parse import parse_qsl

    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = [*request.query_params.multi_items(), *parse_qsl(body, keep_blank_values=True)]
    return await run_in_threadpool(_search, request, resource_type, pairs)


def _search(request: Request, resource_type: str, pairs: list[tuple[str, str]]) -> Response:
    state = app_state(request)
    state.auth.require(request, "read")
    query = parse_query(_type(resource_type), pairs)
    if query.unknown and "handling=strict" in request.headers.get("prefer", ""):
        raise InvalidSearch(
            f"unknown search parameter(s) for {resource_type}: " + ", ".join(query.unknown)
        )
    page = state.store.search(query)
    understood = [(k, v) for k, v in query.understood if k != "_cursor"]
    return FhirResponse(search_bundle(base_url(request), resource_type, page, understood))


async def _resource_to_write(
    request: Request, resource_type: str
) -> tuple[AppState, dict[str, Any]]:
    """The posted resource, once the caller may write and the resource is valid."""
    state = app_state(request)
    state.auth.require(request, "write")
    resource = await read_resource(request, MAX_RESOURCE_BYTES)
    check_resource(resource, _type(resource_type))
    return state, resource


@router.post(
    "/{resource_type}",
    openapi_extra=RESOURCE_BODY,
    response_class=FhirResponse,
    summary="Create (conditionally with If-None-Exist)",
)
async def create(resource_type: str, request: Request) -> Response:
    state, resource = await _resource_to_write(request, resource_type)
    written = await run_in_threadpool(
        state.store.create, resource, if_none_exist=request.headers.get("if-none-exist")
    )
    return _written(request, written)


@router.get("/{resource_type}/{resource_id}", response_class=FhirResponse, summary="Read")
def read(resource_type: str, resource_id: str, request: Request) -> Response:
    state = app_state(request)
    state.auth.require(request, "read")
    return _stored_response(request, state.store.read(_type(resource_type), resource_id))


def _stored_response(request: Request, stored: Stored) -> Response:
    """The stored JSON; for a Binary, its own content with its own media type (a PDF opens
    as a PDF) unless the client asks for FHIR JSON."""
    if stored.resource_type != "Binary" or wants_fhir(request):
        return FhirResponse(stored.content, headers=_headers(stored))
    binary: dict[str, Any] = stored.resource()
    data = base64.b64decode(binary.get("data", ""))
    return Response(
        data,
        media_type=binary.get("contentType", "application/octet-stream"),
        headers=_headers(stored),
    )


@router.put(
    "/{resource_type}/{resource_id}",
    openapi_extra=RESOURCE_BODY,
    response_class=FhirResponse,
    summary="Update or create (If-Match for versions)",
)
async def update(resource_type: str, resource_id: str, request: Request) -> Response:
    state, resource = await _resource_to_write(request, resource_type)
    if resource.get("id") not in (None, resource_id):
        raise ApiError(
            "invalid-resource", f"the body's id {resource.get('id')!r} is not {resource_id!r}"
        )
    written = await run_in_threadpool(
        state.store.put, {**resource, "id": resource_id}, if_match=request.headers.get("if-match")
    )
    return _written(request, written)


@router.delete("/{resource_type}/{resource_id}", response_class=FhirResponse, summary="Delete")
def delete(resource_type: str, resource_id: str, request: Request) -> Response:
    state = app_state(request)
    state.auth.require(request, "write")
    state.store.delete(_type(resource_type), resource_id)
    return Response(status_code=204)


@router.get(
    "/{resource_type}/{resource_id}/_history",
    response_class=FhirResponse,
    summary="History of a resource",
)
def history(resource_type: str, resource_id: str, request: Request) -> Response:
    state = app_state(request)
    state.auth.require(request, "read")
    versions = state.store.history(_type(resource_type), resource_id)
    return FhirResponse(history_bundle(base_url(request), versions))


@router.get(
    "/{resource_type}/{resource_id}/_history/{version_id}",
    response_class=FhirResponse,
    summary="Read one version",
)
def vread(resource_type: str, resource_id: str, version_id: str, request: Request) -> Response:
    state = app_state(request)
    state.auth.require(request, "read")
    if not version_id.isdigit():
        raise ApiError("not-found", f"version {version_id!r} does not exist")
    stored = state.store.vread(_type(resource_type), resource_id, int(version_id))
    return _stored_response(request, stored)
