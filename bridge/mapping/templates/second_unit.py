"""2021-style second unit (PQ translation) → Observation.component.

source: observation/value[@xsi:type=PQ]/translation (PQR: value + unit code), and the
        translations of the reference range bounds
target: Observation.component (code, valueQuantity, interpretation, referenceRange)

The lab gave both units: nothing is converted and both are shown (brief §7). The
component's code is the LOINC of the same analysis in the other unit family when
the JDV Circuit de la biologie links them (glucose 40193-5 mmol/L ↔ 53049-3 g/L);
otherwise the analysis text alone, because a LOINC code implies its unit family.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.datatypes import CD, PQ, PQR
from bridge.cda.model import ReferenceRange
from bridge.mapping.codes import data_absent_reason
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import quantity
from bridge.mapping.values import reference_range

__all__ = ["second_units"]


def second_units(
    code: CD | None,
    value: Any,
    ranges: tuple[ReferenceRange, ...],
    interpretation: list[dict[str, Any]],
    ctx: MappingContext,
) -> list[dict[str, Any]]:
    if not isinstance(value, PQ) or not value.translations:
        return []
    return [_component(code, t, ranges, interpretation, ctx) for t in value.translations]


def _component(
    code: CD | None,
    translation: PQR,
    ranges: tuple[ReferenceRange, ...],
    interpretation: list[dict[str, Any]],
    ctx: MappingContext,
) -> dict[str, Any]:
    primary = code.code if code is not None else None
    unit = translation.code or ""
    label = (code.original_text or code.display_name) if code is not None else None
    target = ctx.correspondence(primary, unit) if primary else None
    component: dict[str, Any]
    if target is not None:
        component = {"code": {"coding": [target], **({"text": label} if label else {})}}
    else:
        ctx.issues.add(
            "second-unit-uncoded",
            translation.node,
            f"second unit {unit!r} of {primary}: no JDV correspondence, coded by text",
            input=unit,
            severity="information",
        )
        component = {"code": {"text": f"{label or primary or 'result'} ({unit})"}}
    q = quantity(translation.value, translation.code, ctx, translation.node)
    if q:
        component["valueQuantity"] = q
    else:
        component["dataAbsentReason"] = data_absent_reason("UNK")
    if interpretation:
        component["interpretation"] = interpretation
    in_unit = [
        r
        for rr in ranges
        if (r := reference_range(rr, ctx, unit_of=lambda bound: _bound_in(bound, unit)))
    ]
    if in_unit:
        component["referenceRange"] = in_unit
    return component


def _bound_in(bound: PQ, unit: str) -> tuple[str | None, str | None]:
    for t in bound.translations:
        if t.code == unit:
            return t.value, t.code
    return None, None
