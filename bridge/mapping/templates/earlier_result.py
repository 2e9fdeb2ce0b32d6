"""entryRelationship[@typeCode=REFR] earlier results → contained Observations.

source: observation/entryRelationship[@typeCode=REFR]/observation (antériorités)
target: Observation.contained, linked by the workflow-supportingInfo extension

An earlier result printed beside the current one is context for the reader, not a
second current result (brief §2): it lives inside the current Observation and never
appears on its own in a search, so a patient's series is not doubled.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import EarlierResult
from bridge.mapping.code_text import with_analysis_text
from bridge.mapping.codes import CODE_ABSENT
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import codeable_concept, effective
from bridge.mapping.templates.observation_parts import interpretations, observation_status
from bridge.mapping.templates.second_unit import second_units
from bridge.mapping.values import observation_value

__all__ = ["SUPPORTING_INFO", "earlier_results"]

SUPPORTING_INFO = "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo"


def earlier_results(
    results: tuple[EarlierResult, ...], ctx: MappingContext
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The contained Observations and the extensions pointing at them."""
    contained: list[dict[str, Any]] = []
    extensions: list[dict[str, Any]] = []
    for i, earlier in enumerate(results, 1):
        local_id = f"earlier-{i}"
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": local_id,
            "status": observation_status(earlier.status, earlier.node, ctx),
            "code": with_analysis_text(
                codeable_concept(earlier.code, ctx, loinc_first=True),
                earlier.code,
                earlier.value,
                ctx,
            )
            or CODE_ABSENT,
            "subject": ctx.subject,
        }
        when = effective(earlier.effective, ctx)
        if when:
            obs[when[0]] = when[1]
        value = observation_value(earlier.value, ctx)
        if value:
            obs[value[0]] = value[1]
        interpretation = interpretations(earlier.interpretations, ctx)
        if interpretation:
            obs["interpretation"] = interpretation
        components = second_units(earlier.code, earlier.value, (), interpretation, ctx)
        if components:
            obs["component"] = components
        contained.append(obs)
        extensions.append(
            {
                "url": SUPPORTING_INFO,
                "valueReference": {"reference": f"#{local_id}", "display": "earlier result"},
            }
        )
    return contained, extensions
