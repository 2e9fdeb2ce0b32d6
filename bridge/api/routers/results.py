"""Result operations: Observation/$series, Observation/$lastn, Observation/{id}/$convert-unit.

Thin: the parameters are read here, the work is `bridge.results`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridge import results
from bridge.api.openapi import documented
from bridge.api.outcomes import ApiError, FhirResponse
from bridge.api.requests import base_url
from bridge.api.state import authorized

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["results"])

# A value is never empty and never holds a control character
TEXT: dict[str, Any] = {"min_length": 1, "pattern": r"^[^\x00-\x1f\x7f]+$"}
UnitParam = Annotated[
    str | None,
    Query(description="A UCUM unit (mmol/L, g/dL; French spellings such as mUI/L)", **TEXT),
]
UnitSystemParam = Annotated[
    str | None,
    Query(
        alias="unit-system",
        description="SI (substance concentrations, per litre) or conventional (mass)",
        pattern="^(SI|conventional)$",
    ),
]


def _once(request: Request, *names: str) -> None:
    """Parameters the OperationDefinitions give max 1: a repeat is refused, never one of
    the values silently chosen."""
    for name in names:
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError("invalid-request", f"{name} is given more than once (max 1)")


@router.get(
    "/Observation/$series",
    response_class=FhirResponse,
    summary="A patient's result series in one unit, with the JDV comparability verdicts",
    description="searchset Bundle: the patient's current results of the analysis (and of "
    "the codes the JDV links to it), oldest first, all in one unit (converted results "
    "are views tagged `converted`), then an OperationOutcome (search.mode outcome) with "
    "one issue per pair of consecutive results and one for the whole series. See "
    "OperationDefinition/Observation-series.",
    responses=documented(400, 404, 422, 503, answer="Bundle", read=True),
)
async def observation_series(
    request: Request,
    patient: Annotated[str, Query(description="The patient: id or Patient/id", **TEXT)],
    code: Annotated[
        list[str], Query(description="system|code; comma-separated or repeated for several")
    ],
    unit: UnitParam = None,
    unit_system: UnitSystemParam = None,
    date: Annotated[
        list[str] | None, Query(description="Effective time with search prefixes (ge2025-01)")
    ] = None,
) -> Response:
    state = await authorized(request, "read")
    _once(request, "patient", "unit", "unit-system")
    bundle = await run_in_threadpool(
        results.series,
        state.store,
        state.terminology,
        patient,
        code,
        unit=unit,
        unit_system=unit_system,
        date=date or (),
        base=base_url(request),
    )
    return FhirResponse(bundle)


@router.get(
    "/Observation/$lastn",
    response_class=FhirResponse,
    summary="The most recent results of each code (FHIR R4 $lastn)",
    description="The Observation search parameters (patient or subject required; category "
    "and/or code required; date, status… narrow the results) and max, the number of "
    "results per code (default 1). Grouped by code, most recent first in each group. "
    "Without status, the current results only (final, amended, corrected, preliminary).",
    responses=documented(400, 503, answer="Bundle", read=True),
)
async def observation_lastn(
    request: Request,
    patient: Annotated[str | None, Query(description="The patient (or subject)", **TEXT)] = None,
    category: Annotated[
        str | None, Query(description="system|code, e.g. laboratory", **TEXT)
    ] = None,
    code: Annotated[str | None, Query(description="system|code, comma-separated", **TEXT)] = None,
    most: Annotated[
        int | None, Query(alias="max", ge=1, le=1000, description="Results per code (default 1)")
    ] = None,
) -> Response:
    state = await authorized(request, "read")
    _once(request, "max")
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    bundle = await run_in_threadpool(results.lastn, state.store, params, base=base_url(request))
    return FhirResponse(bundle)


@router.get(
    "/Observation/{observation_id}/$convert-unit",
    response_class=FhirResponse,
    summary="A stored result in another unit (value and reference ranges)",
    description="The Observation converted (JDV factor between mass and moles, UCUM within "
    "a dimension), or the report's own Observation in that unit, unconverted. Nothing "
    "stored changes. See OperationDefinition/Observation-convert-unit.",
    responses=documented(400, 404, 410, 422, 503, read=True),
)
async def observation_convert_unit(
    request: Request,
    observation_id: str,
    unit: UnitParam = None,
    unit_system: UnitSystemParam = None,
) -> Response:
    state = await authorized(request, "read")
    _once(request, "unit", "unit-system")
    converted = await run_in_threadpool(
        results.convert_unit,
        state.store,
        state.terminology,
        observation_id,
        unit=unit,
        unit_system=unit_system,
    )
    return FhirResponse(converted)
