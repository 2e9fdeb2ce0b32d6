"""Resources written by clients are checked before they are stored.

- The `fhir.resources` R4B models check cardinalities and datatypes (they stand in for
  R4: the package has no 4.0.1 models, and the resource types served here do not
  differ).
- Required bindings, which the models do not check, come from `bindings.py`.
- Ids follow FHIR's rule (`bridge.store.records.check_id`); references are checked by
  the store, inside the write transaction (`bridge.store.references`).
- Transaction and batch Bundles are checked for shape (entries, requests) before any
  entry is written.

The JSON itself (depth, empty values, control characters) is checked as it is read
(`requests.py`). The converter's own output, already tested against the same models,
is not re-validated on ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from bridge.api.bindings import MIME_BINDINGS, MIME_TYPE, REQUIRED_BINDINGS
from bridge.api.capability import SUPPORTED_TYPES
from bridge.api.outcomes import ApiError
from bridge.store.records import check_id

__all__ = ["check_bundle", "check_parameters", "check_resource"]

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")  # http-verb (required binding)


def check_resource(resource: dict[str, Any], expected_type: str | None = None) -> None:
    resource_type = resource.get("resourceType")
    if expected_type is not None and resource_type != expected_type:
        raise ApiError("invalid-resource", f"the body is a {resource_type}, not a {expected_type}")
    if resource_type not in SUPPORTED_TYPES:
        raise ApiError("not-found", f"resource type {resource_type!r} is not served here")
    if "id" in resource:
        if not isinstance(resource["id"], str):
            raise ApiError("invalid-resource", f"{resource_type}.id must be a string")
        check_id(resource_type, resource["id"])
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        model = get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ApiError("unprocessable", f"invalid {resource_type}: {problems}") from exc
    except (TypeError, ValueError) as exc:
        raise ApiError("unprocessable", f"invalid {resource_type}: {exc}") from exc
    unbound = list(_binding_problems(model, resource_type))
    if unbound:
        raise ApiError("unprocessable", f"invalid {resource_type}: " + "; ".join(unbound[:5]))


def check_parameters(resource: dict[str, Any]) -> None:
    """The body of an operation ($translate, $lookup): a valid Parameters resource."""
    from fhir.resources.R4B.parameters import Parameters
    from pydantic import ValidationError

    try:
        Parameters.model_validate(resource)
    except (ValidationError, TypeError, ValueError) as exc:
        raise ApiError(
            "invalid-request", f"the body is not a valid Parameters: {_first(exc)}"
        ) from exc


def _first(exc: Exception) -> str:
    """The first problem a model found, with where it is."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
    return str(exc)


def _binding_problems(model: BaseModel, path: str) -> Iterator[str]:
    """Each code outside its required binding, with where it is (no recursion)."""
    pending: list[tuple[BaseModel, str]] = [(model, path)]
    while pending:
        node, where = pending.pop()
        kind = type(node).__name__
        fields = type(node).model_fields
        for name in node.model_fields_set:
            value = getattr(node, name, None)
            if value is None:
                continue
            element = (fields[name].alias or name) if name in fields else name
            allowed = REQUIRED_BINDINGS.get((kind, element))
            mime = (kind, element) in MIME_BINDINGS
            values = value if isinstance(value, list) else [value]
            for i, item in enumerate(values):
                at = f"{where}.{element}" + (f"[{i}]" if isinstance(value, list) else "")
                if isinstance(item, BaseModel):
                    pending.append((item, at))
                elif allowed is not None and item not in allowed:
                    codes = ", ".join(sorted(allowed))
                    yield f"{at}: {item!r} is not in its required value set ({codes})"
                elif mime and not MIME_TYPE.fullmatch(str(item)):
                    yield f"{at}: {item!r} is not a MIME type"


def check_bundle(bundle: dict[str, Any]) -> None:
    """A transaction or batch Bundle whose entries have the shape FHIR gives them; each
    resource it carries is checked with `check_resource`."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in ("transaction", "batch"):
        raise ApiError("invalid-resource", "POST /fhir takes a transaction or batch Bundle")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise ApiError("invalid-resource", "Bundle.entry must be an array")
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            raise ApiError("invalid-resource", f"{where} must be an object")
        request = entry.get("request")
        if not isinstance(request, dict):
            raise ApiError("invalid-resource", f"{where}.request must be an object")
        if request.get("method") not in _METHODS:
            raise ApiError(
                "invalid-resource", f"{where}.request.method must be one of {', '.join(_METHODS)}"
            )
        for key, required in (("url", True), ("ifNoneExist", False), ("ifMatch", False)):
            if (required or key in request) and not isinstance(request.get(key), str):
                raise ApiError("invalid-resource", f"{where}.request.{key} must be a string")
        if "fullUrl" in entry and not isinstance(entry["fullUrl"], str):
            raise ApiError("invalid-resource", f"{where}.fullUrl must be a string")
        if "resource" in entry:
            if not isinstance(entry["resource"], dict):
                raise ApiError("invalid-resource", f"{where}.resource must be an object")
            check_resource(entry["resource"])
