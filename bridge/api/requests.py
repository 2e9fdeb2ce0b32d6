"""Reading requests: bodies within a size limit, media types, FHIR JSON resources, the base URL."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import Request

from bridge.api.outcomes import ApiError

__all__ = ["CDA_TYPES", "FHIR_TYPES", "base_url", "read_body", "read_resource", "wants_fhir"]

FHIR_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
CDA_TYPES = ("application/xml", "text/xml", "application/hl7-cda+xml", "application/cda+xml")


def base_url(request: Request) -> str:
    """The FHIR base as the client reached it (honours X-Forwarded-Proto/Host behind a proxy)."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{scheme}://{host}/fhir"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int, accepted: tuple[str, ...]) -> bytes:
    """The body, refused with 415 for another media type and 413 beyond `limit` bytes."""
    kind = media_type(request)
    if kind not in accepted:
        raise ApiError(
            "unsupported-media-type",
            f"content type {kind or '(none)'} is not accepted here; use " + " or ".join(accepted),
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError("too-large", f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("too-large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_resource(request: Request, limit: int) -> dict[str, Any]:
    body = await read_body(request, limit, FHIR_TYPES)
    try:
        resource = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid-resource", f"the body is not JSON: {exc}") from exc
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ApiError("invalid-resource", "the body is not a FHIR resource (no resourceType)")
    return resource


def wants_fhir(request: Request) -> bool:
    """True when the client asks for FHIR JSON (not the raw content of a Binary)."""
    accept = request.headers.get("accept", "").lower()
    wanted = request.query_params.get("_format", "")
    return any(t in accept for t in ("fhir+json", "application/json")) or wanted in (
        "json",
        "application/fhir+json",
        "application/json",
    )
