"""The FHIR REST interface: capabilities, transactions, CRUD, history and search.

Path segments are matched by FHIR's own shapes: a resource type starts with a capital
letter, and an id never starts with `$` or `_` (those are operations, `_search` and
`_history`), so `/fhir/metadata` or `/fhir/ConceptMap/$translate` never reach the
generic routes. An id that matches the route but breaks FHIR's rule gets a 400.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from bridge.api.bundles import history_bundle, search_bundle
from bridge.api.capability import SUPPORTED_TYPES, capability_json
from bridge.api.disconnects import until_disconnected
from bridge.api.openapi import BUNDLE_BODY, RESOURCE_BODY, documented
from bridge.api.outcomes import ApiError, FhirResponse
from bridge.api.requests import base_url, read_body, read_resource, wants_fhir
from bridge.api.state import AppState, app_state, authorized
from bridge.api.validation import check_bundle, check_resource
from bridge.mapping import dumps
from bridge.store import Stored, Written, parse_query
from bridge.store.database import Interrupt
from bridge.store.records import instant
from bridge.store.search import InvalidSearch

__all__ = ["router"]


class _TypeSegment(Convertor[str]):
    regex = "[A-Z][A-Za-z]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _IdSegment(_TypeSegment):
    regex = "[^/$_][^/]*"


register_url_convertor("fhir_type", _TypeSegment())
register_url_convertor("fhir_id", _IdSegment())

router = APIRouter(prefix="/fhir", tags=["fhir"])
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
MAX_RESOURCE_BYTES = 60 * 1024 * 1024
MAX_SEARCH_BODY_BYTES = 64 * 1024  # a form of search parameters (POST _search)
FORM = "application/x-www-form-urlencoded"
_VERSION = re.compile(r"[0-9]{1,10}")
TYPE = "/{resource_type:fhir_type}"
INSTANCE = TYPE + "/{resource_id:fhir_id}"


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


@router.get(
    "/metadata",
    response_class=FhirResponse,
    summary="The CapabilityStatement",
    responses=documented(answer="CapabilityStatement"),
)
async def metadata(request: Request) -> Response:
    state = app_state(request)
    return FhirResponse(capability_json(base_url(request), authenticated=not state.auth.open))


@router.post("/", include_in_schema=False)  # clients post to the base with or without "/"
@router.post(
    "",
    openapi_extra=BUNDLE_BODY,
    response_class=FhirResponse,
    summary="Process a transaction or batch Bundle",
    responses=documented(400, 404, 409, 412, 413, 415, 422, 503, answer="Bundle", write=True),
)
async def bundle(request: Request) -> Response:
    state = await authorized(request, "write")
    body = await read_resource(request, MAX_BUNDLE_BYTES)

    def process() -> bytes:  # validation and writes: CPU and I/O, off the event loop
        check_bundle(body)
        policy = state.settings.reference_policy
        if body["type"] == "transaction":
            return dumps(state.store.transaction(body, references=policy))
        return dumps(state.store.batch(body, references=policy))

    return FhirResponse(await run_in_threadpool(process))


@router.get(
    TYPE,
    response_class=FhirResponse,
    summary="Search",
    responses=documented(400, 404, 503, answer="Bundle", read=True),
)
async def search(resource_type: str, request: Request) -> Response:
    state = await authorized(request, "read")
    pairs = list(request.query_params.multi_items())
    return await until_disconnected(
        request, lambda interrupt: _search(request, state, resource_type, pairs, interrupt)
    )


@router.post(
    TYPE + "/_search",
    response_class=FhirResponse,
    summary="Search with form parameters",
    openapi_extra={
        "requestBody": {
            "content": {
                FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
            }
        }
    },
    responses=documented(400, 404, 413, 415, 503, answer="Bundle", read=True),
)
async def search_post(resource_type: str, request: Request) -> Response:
    from urllib.parse import parse_qsl

    state = await authorized(request, "read")
    body = b""
    if request.headers.get("content-length") not in (None, "0") or request.headers.get(
        "transfer-encoding"
    ):
        body = await read_body(request, MAX_SEARCH_BODY_BYTES, (FORM,))
    form = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    pairs = [*request.query_params.multi_items(), *form]
    return await until_disconnected(
        request, lambda interrupt: _search(request, state, resource_type, pairs, interrupt)
    )


def _search(
    request: Request,
    state: AppState,
    resource_type: str,
    pairs: list[tuple[str, str]],
    interrupt: Interrupt,
) -> Response:
    query = parse_query(_type(resource_type), pairs)
    if query.unknown and "handling=strict" in request.headers.get("prefer", ""):
        raise InvalidSearch(
            f"unknown search parameter(s) for {resource_type}: " + ", ".join(query.unknown)
        )
    page = state.store.search(query, interrupt)
    understood = [(k, v) for k, v in query.understood if k != "_cursor"]
    return FhirResponse(search_bundle(base_url(request), resource_type, page, understood))


async def _resource_to_write(
    request: Request, resource_type: str
) -> tuple[AppState, dict[str, Any]]:
    """The posted resource, once it is valid (checked in a worker thread: the models cost)."""
    state = await authorized(request, "write")
    resource = await read_resource(request, MAX_RESOURCE_BYTES)
    await run_in_threadpool(check_resource, resource, _type(resource_type))
    return state, resource


@router.post(
    TYPE,
    openapi_extra=RESOURCE_BODY,
    response_class=FhirResponse,
    summary="Create (conditionally with If-None-Exist)",
    responses=documented(400, 404, 412, 413, 415, 422, 503, write=True, created=True),
)
async def create(resource_type: str, request: Request) -> Response:
    state, resource = await _resource_to_write(request, resource_type)
    written = await run_in_threadpool(
        state.store.create,
        resource,
        if_none_exist=request.headers.get("if-none-exist"),
        references=state.settings.reference_policy,
    )
    return _written(request, written)


@router.get(
    INSTANCE,
    response_class=FhirResponse,
    summary="Read",
    responses=documented(400, 404, 410, 503, read=True, binary=True),
)
async def read(resource_type: str, resource_id: str, request: Request) -> Response:
    state = await authorized(request, "read")
    resource_type = _type(resource_type)
    return await run_in_threadpool(
        lambda: _stored_response(request, state.store.read(resource_type, resource_id))
    )


def _stored_response(request: Request, stored: Stored) -> Response:
    """The stored JSON; for a Binary, its own content with its own media type (a PDF opens
    as a PDF) unless the client asks for FHIR JSON."""
    if stored.resource_type != "Binary" or wants_fhir(request):
        return FhirResponse(stored.content, headers=_headers(stored))
    binary: dict[str, Any] = stored.resource()
    try:
        data = base64.b64decode(binary.get("data", ""))
    except (binascii.Error, ValueError):  # stored as sent: its JSON is all there is
        return FhirResponse(stored.content, headers=_headers(stored))
    return Response(
        data,
        media_type=binary.get("contentType", "application/octet-stream"),
        headers=_headers(stored),
    )


@router.put(
    INSTANCE,
    openapi_extra=RESOURCE_BODY,
    response_class=FhirResponse,
    summary="Update or create (If-Match for versions)",
    responses=documented(400, 404, 409, 412, 413, 415, 422, 503, write=True, created=True),
)
async def update(resource_type: str, resource_id: str, request: Request) -> Response:
    state, resource = await _resource_to_write(request, resource_type)
    if resource.get("id") not in (None, resource_id):
        raise ApiError("invalid-resource", "the body's id is not the id of the URL")
    written = await run_in_threadpool(
        state.store.put,
        {**resource, "id": resource_id},
        if_match=request.headers.get("if-match"),
        references=state.settings.reference_policy,
    )
    return _written(request, written)


@router.delete(
    INSTANCE,
    response_class=FhirResponse,
    summary="Delete",
    responses=documented(400, 404, 503, write=True, deleted=True),
)
async def delete(resource_type: str, resource_id: str, request: Request) -> Response:
    state = await authorized(request, "write")
    await run_in_threadpool(state.store.delete, _type(resource_type), resource_id)
    return Response(status_code=204)


@router.get(
    INSTANCE + "/_history",
    response_class=FhirResponse,
    summary="History of a resource",
    responses=documented(400, 404, 503, answer="Bundle", read=True),
)
async def history(resource_type: str, resource_id: str, request: Request) -> Response:
    state = await authorized(request, "read")
    versions = await run_in_threadpool(state.store.history, _type(resource_type), resource_id)
    return FhirResponse(history_bundle(base_url(request), versions))


@router.get(
    INSTANCE + "/_history/{version_id}",
    response_class=FhirResponse,
    summary="Read one version",
    responses=documented(400, 404, 410, 503, read=True, binary=True),
)
async def vread(
    resource_type: str, resource_id: str, version_id: str, request: Request
) -> Response:
    state = await authorized(request, "read")
    resource_type = _type(resource_type)
    if not _VERSION.fullmatch(version_id):
        raise ApiError("not-found", "no such version: versions are numbered 1, 2, 3…")
    version = int(version_id)
    return await run_in_threadpool(
        lambda: _stored_response(request, state.store.vread(resource_type, resource_id, version))
    )
