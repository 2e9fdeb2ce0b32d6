"""The OpenAPI document: what each route takes and every status it can answer.

Routes list their refusals with `documented(400, 404, …)`: each is an OperationOutcome
in `application/fhir+json`. `install_openapi` then completes FastAPI's document: the
schemas of FHIR answers (OperationOutcome, Bundle, CapabilityStatement, Parameters),
path parameters in FHIR's shapes (served types, ids, version numbers), and the bearer
security scheme when credentials are configured (without them the API takes no token,
and the document says so by declaring none). A 405 carries `Allow`, listing every
method of the path (`outcomes.allowed_methods`). 500 is never documented: it is a bug.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bridge.api.capability import SUPPORTED_TYPES

__all__ = [
    "BUNDLE_BODY",
    "PARAMETERS_BODY",
    "RESOURCE_BODY",
    "documented",
    "install_openapi",
    "refusal",
]

FHIR_JSON = "application/fhir+json"
_SCHEMAS = "#/components/schemas/"
BEARER = "bearer"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key (BRIDGE_API_KEYS) or a JWT of the OIDC issuer "
    "(BRIDGE_OIDC_ISSUER); scopes read and write.",
}
REASONS = {
    400: "Bad request: the parameters, the body or the id break FHIR's rules",
    401: "No token, or an unknown, expired or invalid one",
    403: "The token lacks the scope (read or write) this needs",
    404: "No such resource type, resource, version or code",
    409: "The request contradicts itself or the store",
    410: "The resource was deleted",
    412: "If-Match or If-None-Exist did not hold",
    413: "The body exceeds the size limit",
    415: "The body is not of a media type this operation takes",
    422: "Well-formed but not acceptable: invalid resource, unresolved reference, "
    "unsupported document, a conversion that cannot be made",
    429: "Too many bulk exports waiting for this client; Retry-After says when to ask again",
    503: "A dependency cannot answer now (statement timeout, terminology server, "
    "OIDC keys); try again",
}
_ID = {"type": "string", "pattern": r"^[A-Za-z0-9\-.]{1,64}$"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {
                            "type": "string",
                            "enum": ["fatal", "error", "warning", "information"],
                        },
                        "code": {"type": "string", "minLength": 1},
                        "diagnostics": {"type": "string", "minLength": 1},
                        "location": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        },
    },
    "Resource": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
            "id": _ID,
        },
        "additionalProperties": True,
    },
    "Bundle": {
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {
                "type": "string",
                "enum": ["searchset", "history", "transaction-response", "batch-response"],
            },
            "total": {"type": "integer", "minimum": 0},
            "link": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            "entry": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        },
    },
    "TransactionBundle": {
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": ["transaction", "batch"]},
            "entry": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["request"],
                    "properties": {
                        "fullUrl": {"type": "string", "minLength": 1},
                        "resource": {"$ref": _SCHEMAS + "Resource"},
                        "request": {
                            "type": "object",
                            "required": ["method", "url"],
                            "properties": {
                                "method": {
                                    "type": "string",
                                    "enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"],
                                },
                                "url": {"type": "string", "minLength": 1},
                                "ifNoneExist": {"type": "string", "minLength": 1},
                                "ifMatch": {"type": "string", "minLength": 1},
                            },
                        },
                    },
                },
            },
        },
    },
    "CapabilityStatement": {
        "type": "object",
        "required": ["resourceType", "status", "date", "kind", "fhirVersion", "format"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["CapabilityStatement"]},
            "status": {"type": "string", "enum": ["draft", "active", "retired", "unknown"]},
            "date": {"type": "string", "minLength": 4},
            "kind": {"type": "string", "enum": ["instance", "capability", "requirements"]},
            "fhirVersion": {"type": "string", "enum": ["4.0.1"]},
            "format": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "rest": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["mode"],
                    "properties": {
                        "mode": {"type": "string", "enum": ["server", "client"]},
                        "resource": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["type"],
                                "properties": {
                                    "type": {"type": "string"},
                                    "interaction": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {
                                            "type": "object",
                                            "required": ["code"],
                                            "properties": {"code": {"type": "string"}},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "Parameters": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Parameters"]},
            "parameter": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1}},
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "store": {"type": "string"},
        },
    },
}
_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "resource_type": {"type": "string", "enum": list(SUPPORTED_TYPES)},
    "resource_id": _ID,
    "observation_id": _ID,
    "version_id": {"type": "string", "pattern": "^[0-9]{1,10}$"},
    "job_id": _ID,
    "file_no": {"type": "string", "pattern": "^[0-9]{1,9}$"},
}


def _body(schema: str) -> dict[str, Any]:
    media_types = (FHIR_JSON, "application/json")
    content = {media: {"schema": {"$ref": _SCHEMAS + schema}} for media in media_types}
    return {"requestBody": {"required": True, "content": content}}


RESOURCE_BODY = _body("Resource")
BUNDLE_BODY = _body("TransactionBundle")
PARAMETERS_BODY = _body("Parameters")


def refusal(status: int) -> dict[str, Any]:
    return {
        "description": REASONS[status],
        "content": {FHIR_JSON: {"schema": {"$ref": _SCHEMAS + "OperationOutcome"}}},
    }


def documented(
    *statuses: int,
    answer: str = "Resource",
    success: int = 200,
    read: bool = False,
    write: bool = False,
    created: bool = False,
    deleted: bool = False,
    binary: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: its `success` (a FHIR `answer`, 201 too when it may
    create, 204 for a deletion, any media type for a Binary read raw) and each refusal;
    `read`/`write`: it takes a token (401, 403, and 503 while the OIDC keys cannot be
    fetched)."""
    content: dict[str, Any] = {FHIR_JSON: {"schema": {"$ref": _SCHEMAS + answer}}}
    if binary:  # a Binary is served raw, with its own content type
        content["*/*"] = {"schema": {"type": "string", "format": "binary"}}
    responses: dict[int | str, dict[str, Any]] = {}
    if deleted:
        responses[204] = {"description": "Deleted (or already absent): no body"}
    else:
        responses[success] = {"description": "The answer", "content": content}
    if created:
        responses[201] = {"description": "Created", "content": content}
    wanted = set(statuses) | ({401, 403, 503} if read or write else set())
    for status in sorted(wanted):
        responses[status] = refusal(status)
    return responses


def install_openapi(app: FastAPI, *, authenticated: bool) -> None:
    """Complete FastAPI's document (built once, at the first request for it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _completed(generate(), authenticated=authenticated)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _completed(document: dict[str, Any], *, authenticated: bool) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)  # FastAPI's own 422: this API answers 400
    schemas.pop("ValidationError", None)
    schemas.update(SCHEMAS)
    if authenticated:
        components["securitySchemes"] = {BEARER: BEARER_SCHEME}
    for operations in document["paths"].values():
        for operation in operations.values():
            _complete_operation(operation, authenticated=authenticated)
    return document


def _complete_operation(operation: dict[str, Any], *, authenticated: bool) -> None:
    responses = operation["responses"]
    validation = responses.get("422", {}).get("content", {}).get("application/json")
    if validation is not None:  # FastAPI's HTTPValidationError: never answered here
        if FHIR_JSON in responses["422"]["content"]:
            responses["422"] = refusal(422)
        else:
            del responses["422"]
    for response in responses.values():
        for media in response.get("content", {}).values():
            schema = media.get("schema", {})
            if "$ref" in schema:  # FastAPI merged its {"type": "string"} into ours
                media["schema"] = {"$ref": schema["$ref"]}
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path" and parameter["name"] in _PATH_PARAMETERS:
            parameter["schema"] = dict(_PATH_PARAMETERS[parameter["name"]])
    if authenticated and "401" in responses:  # what takes a token says which
        operation["security"] = [{BEARER: []}]
