"""Resources written by clients are checked against the FHIR models before they are stored.

The `fhir.resources` R4B models stand in for R4 (the package has no 4.0.1 models; the
resource types served here do not differ). The converter's own output, already
tested against the same models, is not re-validated on ingestion.
"""

from __future__ import annotations

from typing import Any

from bridge.api.capability import SUPPORTED_TYPES
from bridge.api.outcomes import ApiError

__all__ = ["check_resource"]


def check_resource(resource: dict[str, Any], expected_type: str | None = None) -> None:
    resource_type = resource.get("resourceType")
    if expected_type is not None and resource_type != expected_type:
        raise ApiError("invalid-resource", f"the body is a {resource_type}, not a {expected_type}")
    if resource_type not in SUPPORTED_TYPES:
        raise ApiError("not-found", f"resource type {resource_type!r} is not served here")
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ApiError("unprocessable", f"invalid {resource_type}: {problems}") from exc
    except (TypeError, ValueError) as exc:
        raise ApiError("unprocessable", f"invalid {resource_type}: {exc}") from exc
