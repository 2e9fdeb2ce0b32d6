"""Reading requests: bodies within a size limit, media types, FHIR JSON resources, the base URL.

FHIR JSON is held to its rules as it is read, so that nothing downstream meets what
FHIR forbids: nesting deeper than MAX_JSON_DEPTH (measured before parsing: no
recursion error, whatever the depth), empty strings, arrays or objects, control
characters and lone surrogates in strings. Decimals stay as written (Decimal).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from bridge.api.outcomes import ApiError
from bridge.store.search import MAX_EXPONENT

__all__ = [
    "CDA_TYPES",
    "FHIR_TYPES",
    "MAX_JSON_DEPTH",
    "base_url",
    "parse_fhir_json",
    "read_body",
    "read_resource",
    "wants_fhir",
]

MAX_JSON_DEPTH = 64  # a Bundle of resources with contained resources nests about 15 deep
PARSED_ON_THE_LOOP = 256 * 1024  # bytes of JSON; a larger body is parsed in a worker thread
_ESCAPED = re.compile(r"\\.", re.DOTALL)  # \" and the like: then a string is "[^"]*"
_STRING = re.compile(r'"[^"]*"')
_ONLY_BRACKETS = {c: None for c in range(128) if chr(c) not in "[]{}"}
_INNERMOST = re.compile(r"\[\]|\{\}")
# Cheap signs that a value may break FHIR's rules; only then is every value visited
_SUSPECT = re.compile(r'""|\[\s*\]|\{\s*\}|\\u00[01]|\\u[dD][89a-fA-F]')
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

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
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
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
    if len(body) > PARSED_ON_THE_LOOP:  # megabytes of JSON: parsed off the event loop
        resource = await run_in_threadpool(parse_fhir_json, body)
    else:
        resource = parse_fhir_json(body)
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ApiError("invalid-resource", "the body is not a FHIR resource (no resourceType)")
    return resource


def parse_fhir_json(body: bytes) -> Any:
    """The JSON of `body`, refused (400) when it is not JSON or breaks FHIR's JSON rules."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError("invalid-resource", f"the body is not UTF-8: {exc.reason}") from exc
    depth_over = _depth_over(text, MAX_JSON_DEPTH)
    if depth_over is None:
        raise ApiError("invalid-resource", "the body is not JSON")
    if depth_over:
        raise ApiError("invalid-resource", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_float=_decimal, parse_int=_integer, parse_constant=_not_json)
    except ValueError as exc:  # JSONDecodeError, and integers of thousands of digits
        raise ApiError("invalid-resource", f"the body is not JSON: {exc}") from exc
    if _SUSPECT.search(text):
        _check_values(value)
    return value


def _decimal(text: str) -> Decimal:
    """A JSON number as written, refused beyond ±1e300: what the store compares as a
    double and what readers of stored JSON (orjson, any client's JSON library) can hold."""
    number = Decimal(text)
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        raise ApiError(
            "invalid-resource",
            f"the number {text[:40]}{'…' if len(text) > 40 else ''} is out of range: "
            f"this server stores numbers within ±1e{MAX_EXPONENT}",
        )
    return number


def _integer(text: str) -> int | Decimal:
    """A JSON integer; beyond 18 digits a decimal (a 64-bit integer is the most JSON
    libraries read exactly), refused out of range like any number."""
    return int(text) if len(text) <= 18 else _decimal(text)


def _not_json(constant: str) -> Any:
    """NaN and Infinity: Python's json reads them, JSON (and FHIR) has no such number."""
    raise ValueError(f"{constant} is not a JSON number")


def _depth_over(text: str, limit: int) -> bool | None:
    """Whether brackets nest deeper than `limit`, strings aside (None: not JSON at all).

    In C-speed steps: strings taken out, then everything but brackets, then passes that
    each take away the innermost pairs, never more than `limit` of them.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    unescaped = _ESCAPED.sub("", text) if "\\" in text else text
    brackets = _STRING.sub("", unescaped).translate(_ONLY_BRACKETS)
    if brackets.strip("[]{}"):  # a character outside any string that JSON does not have
        return None
    for _ in range(limit):
        reduced = _INNERMOST.sub("", brackets)
        if not reduced or reduced == brackets:  # shallow, or unbalanced (json.loads says)
            return False
        brackets = reduced
    return True


def _check_values(value: Any) -> None:
    """FHIR JSON: no empty string, array or object, no control character nor lone
    surrogate in a string or a name (https://hl7.org/fhir/R4/json.html)."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict | list) and not node:
            raise ApiError("invalid-resource", f"{path or 'the body'} is empty: FHIR omits it")
        if isinstance(node, dict):
            for key, item in node.items():
                _check_string(key, f"{path}.{key}" if path else key)
                pending.append((item, f"{path}.{key}" if path else key))
        elif isinstance(node, list):
            pending.extend((item, f"{path}[{i}]") for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, path)


def _check_string(text: str, path: str) -> None:
    if not text:
        raise ApiError(
            "invalid-resource", f"{path or 'the body'} is an empty string: FHIR omits it"
        )
    if _FORBIDDEN_CHARACTER.search(text):
        raise ApiError(
            "invalid-resource",
            f"{path or 'the body'} holds a control character or a lone surrogate",
        )


def wants_fhir(request: Request) -> bool:
    """True when the client asks for FHIR JSON (not the raw content of a Binary)."""
    accept = request.headers.get("accept", "").lower()
    wanted = request.query_params.get("_format", "")
    return any(t in accept for t in ("fhir+json", "application/json")) or wanted in (
        "json",
        "application/fhir+json",
        "application/json",
    )
