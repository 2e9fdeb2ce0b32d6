"""One stored result in another unit (`Observation/{id}/$convert-unit`).

The conversion is `bridge.terminology.convert_observation`; the part that needs the
store is here: the other Observations of the result's report, so that a report
giving the result in the asked unit is answered with the lab's own Observation,
never a conversion.
"""

from __future__ import annotations

from typing import Any

from bridge.results.reports import ReportIndex, report_observations
from bridge.store import Store
from bridge.terminology import TerminologyService, convert_observation
from bridge.terminology.operations import InvalidRequest

__all__ = ["convert_unit"]


def convert_unit(
    store: Store,
    terminology: TerminologyService,
    observation_id: str,
    *,
    unit: str | None = None,
    unit_system: str | None = None,
) -> dict[str, Any]:
    """The stored Observation in `unit` (UCUM) or in the unit of `unit_system` (SI or
    conventional); nothing stored changes.

    Raises:
        InvalidRequest: neither a unit nor a unit system, or an unknown unit system.
        ResourceNotFound / ResourceDeleted: no such Observation.
        ConversionRefused: the conversion cannot be made (`.reason`: unit-unknown,
            dimension-differs, no-factor, unit-mismatch, not-a-quantity).
    """
    if not unit and not unit_system:
        raise InvalidRequest("$convert-unit needs unit (UCUM) or unit-system (SI, conventional)")
    if not unit and unit_system not in ("SI", "conventional"):
        raise InvalidRequest(f"unit-system {unit_system!r}: expected SI or conventional")
    observation = store.read("Observation", observation_id).resource()
    report = ReportIndex(store, [observation_id]).report_of(observation_id)
    siblings = report_observations(store, report) if report is not None else []
    return convert_observation(
        observation,
        terminology.jdv(),
        to_unit=unit or None,
        to_system=None if unit else unit_system,  # type: ignore[arg-type]
        siblings=siblings,
    )
