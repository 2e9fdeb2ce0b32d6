"""observation/value (by xsi:type) → Observation.value[x], and referenceRange → referenceRange.

The registry `VALUE_MAPPERS` reads like the brief's table: one function per HL7
type, each returning the FHIR element name and its content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bridge.cda.datatypes import (
    BL,
    CD,
    ED,
    INT,
    IVL_PQ,
    IVL_TS,
    PQ,
    REAL,
    RTO,
    ST,
    TS,
    NullValue,
    UnknownValue,
    Value,
)
from bridge.cda.model import ReferenceRange
from bridge.mapping.codes import data_absent_reason
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import codeable_concept, date_time, period, quantity

__all__ = ["VALUE_MAPPERS", "display_value", "observation_value", "reference_range"]

ValueElement = tuple[str, Any]  # ("valueQuantity", {...}) or ("dataAbsentReason", {...})
REFERENCE_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


def _pq(value: PQ, ctx: MappingContext) -> ValueElement | None:
    # Observation.valueQuantity (the 2021 second unit is handled by the lab observation mapper)
    if value.value is None and value.null_flavor:
        return _null(NullValue(value.null_flavor, "PQ", value.node), ctx)
    q = quantity(value.value, value.unit, ctx, value.node)
    return ("valueQuantity", q) if q else None


def _bound(bound: PQ | None, ctx: MappingContext) -> dict[str, Any] | None | bool:
    """A bound as a SimpleQuantity; False when it is written but unreadable."""
    if bound is None or (bound.value is None and bound.null_flavor):
        return None
    q = quantity(bound.value, bound.unit, ctx, bound.node, simple=True)
    return q if q is not None else False


def _ivl_pq(value: IVL_PQ, ctx: MappingContext) -> ValueElement | None:
    # Two bounds → valueRange; one bound → valueQuantity with a comparator (brief §3)
    low, high = _bound(value.low, ctx), _bound(value.high, ctx)
    if low is False or high is False:  # never turn "abc–84" into "≤ 84": keep what was written
        bounds = [" ".join(filter(None, (b.value, b.unit))) for b in (value.low, value.high) if b]
        written = " – ".join(filter(None, bounds))
        return ("valueString", written) if written else None
    if low and high:
        if not (value.low_closed and value.high_closed):
            ctx.issues.add(
                "range-open-bound",
                value.node,
                "an exclusive bound in a two-sided interval: FHIR Range bounds are inclusive",
                severity="information",
            )
        return "valueRange", {"low": low, "high": high}
    if high:
        return "valueQuantity", {"comparator": "<=" if value.high_closed else "<", **high}
    if low:
        return "valueQuantity", {"comparator": ">=" if value.low_closed else ">", **low}
    if value.center:
        return _pq(value.center, ctx)
    return None


def _cd(value: CD, ctx: MappingContext) -> ValueElement | None:
    # valueCodeableConcept with every translation; originalText → text
    if value.null_flavor and not value.code and not value.original_text:
        return _null(NullValue(value.null_flavor, "CD", value.node), ctx)
    concept = codeable_concept(value, ctx, require_display=True)
    return ("valueCodeableConcept", concept) if concept else None


def _text(value: ST | ED, ctx: MappingContext) -> ValueElement | None:
    # ST and ED text → valueString; "<1.0 mg/L" stays a string
    text = value.text
    if isinstance(value, ED) and value.representation == "B64":
        ctx.issues.add(
            "unknown-value-type",
            value.node,
            "a base64 ED value cannot be an R4 Observation value; left out",
        )
        return None
    return ("valueString", text) if text else None


_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_INT32 = 2**31


def _int(value: INT, ctx: MappingContext) -> ValueElement | None:
    written = (value.value or "").strip()
    if _INTEGER.match(written):
        number = int(written)
        if -_INT32 <= number < _INT32:
            return "valueInteger", number
        return "valueQuantity", {"value": Decimal(number)}  # beyond FHIR's 32-bit integer
    ctx.issues.add(
        "invalid-number",
        value.node,
        f"{value.value!r} is not an integer",
        input=value.value,
        attribute="value",
    )
    return None


def _real(value: REAL, ctx: MappingContext) -> ValueElement | None:
    # REAL → valueQuantity without unit (brief §3)
    q = quantity(value.value, None, ctx, value.node)
    return ("valueQuantity", q) if q else None


def _bl(value: BL, ctx: MappingContext) -> ValueElement | None:
    if value.value in ("true", "false"):
        return "valueBoolean", value.value == "true"
    ctx.issues.add(
        "invalid-number",
        value.node,
        f"{value.value!r} is not a boolean",
        input=value.value,
        attribute="value",
    )
    return None


def _ts(value: TS, ctx: MappingContext) -> ValueElement | None:
    when = date_time(value.value, ctx, value.node)
    return ("valueDateTime", when) if when else None


def _ivl_ts(value: IVL_TS, ctx: MappingContext) -> ValueElement | None:
    if value.value:
        when = date_time(value.value, ctx, value.node)
        return ("valueDateTime", when) if when else None
    span = period(value, ctx)
    return ("valuePeriod", span) if span else None


def _rto(value: RTO, ctx: MappingContext) -> ValueElement | None:
    # valueRatio needs both sides (FHIR rat-1)
    ratio = {}
    for part, pq in (("numerator", value.numerator), ("denominator", value.denominator)):
        if pq is not None:
            q = quantity(pq.value, pq.unit, ctx, pq.node)
            if q:
                ratio[part] = q
    if len(ratio) == 2:
        return "valueRatio", ratio
    ctx.issues.add(
        "invalid-number", value.node, "a ratio needs a numerator and a denominator; left out"
    )
    return None


TRACE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
            "code": "TRC",
            "display": "trace",
        }
    ],
    "text": "traces",
}


def _null(value: NullValue, ctx: MappingContext) -> ValueElement:
    # value/@nullFlavor → dataAbsentReason; but "trace" is a result: present, too little to count
    if value.null_flavor == "TRC":
        ctx.issues.add(
            "nullflavor-mapped",
            value.node,
            "value nullFlavor TRC (trace): kept as the coded result 'traces'",
            input="TRC",
            severity="information",
        )
        return "valueCodeableConcept", TRACE
    reason = data_absent_reason(value.null_flavor)
    ctx.issues.add(
        "nullflavor-mapped",
        value.node,
        f"value nullFlavor {value.null_flavor} → dataAbsentReason {reason['coding'][0]['code']}",
        input=value.null_flavor,
        severity="information",
    )
    return "dataAbsentReason", reason


def _unknown(value: UnknownValue, ctx: MappingContext) -> ValueElement | None:
    kept = f"; its text {value.text!r} is kept as valueString" if value.text else ""
    ctx.issues.add(
        "unknown-value-type",
        value.node,
        f"xsi:type {value.xsi_type} is not a type crbio-bridge reads{kept}",
        input=value.xsi_type,
    )
    return ("valueString", value.text) if value.text else None


VALUE_MAPPERS: dict[type, Callable[[Any, MappingContext], ValueElement | None]] = {
    PQ: _pq,
    IVL_PQ: _ivl_pq,
    CD: _cd,
    ST: _text,
    ED: _text,
    INT: _int,
    REAL: _real,
    BL: _bl,
    TS: _ts,
    IVL_TS: _ivl_ts,
    RTO: _rto,
    NullValue: _null,
    UnknownValue: _unknown,
}


def observation_value(value: Value | None, ctx: MappingContext) -> ValueElement | None:
    """The FHIR element carrying a result's value, or None when there is none."""
    if value is None:
        return None
    return VALUE_MAPPERS[type(value)](value, ctx)


# Observation.referenceRange -------------------------------------------------


def reference_range(
    rr: ReferenceRange,
    ctx: MappingContext,
    *,
    unit_of: Callable[[Any], tuple[Any, Any]] | None = None,
) -> dict[str, Any] | None:
    """referenceRange/observationRange → Observation.referenceRange (never valueRange).

    low/high as SimpleQuantity; interpretation N → type "normal"; observationRange
    text → text. `unit_of`, when given, picks another (value, unit) for each bound:
    the 2021-style second unit of the bound.
    """
    out: dict[str, Any] = {}
    value = rr.value
    if isinstance(value, IVL_PQ):
        for name, bound in (("low", value.low), ("high", value.high)):
            if bound is None:
                continue
            number, unit = unit_of(bound) if unit_of else (bound.value, bound.unit)
            if number is None:
                continue
            q = quantity(number, unit, ctx, bound.node, simple=True)
            if q:
                out[name] = q
        low, high = out.get("low"), out.get("high")
        if low and high and low["value"] == high["value"] and unit_of is None:
            ctx.issues.add(
                "range-low-equals-high",
                value.node,
                f"reference range with low = high = {low['value']}; kept as given",
                severity="information",
            )
    elif value is not None and unit_of is None:
        mapped = observation_value(value, ctx)
        if mapped and mapped[0] in ("valueString", "valueCodeableConcept", "valueQuantity"):
            out["text"] = display_value(mapped)
    if rr.interpretation is not None and rr.interpretation.code == "N":
        out["type"] = {
            "coding": [
                {"system": REFERENCE_RANGE_MEANING, "code": "normal", "display": "Normal Range"}
            ]
        }
    elif rr.interpretation is not None and rr.interpretation.code and unit_of is None:
        # Without a type FHIR reads a range as the normal one: say what this one is
        meaning = codeable_concept(rr.interpretation, ctx)
        if meaning:
            out["type"] = meaning
            ctx.issues.add(
                "reference-range-not-normal",
                rr.interpretation.node,
                f"reference range with interpretation {rr.interpretation.code}: kept as "
                "its type, it is not the normal range",
                severity="information",
            )
    if rr.text and unit_of is None:
        out["text"] = rr.text
    if not any(k in out for k in ("low", "high", "text")):
        if unit_of is None:
            ctx.issues.add(
                "reference-range-empty",
                rr.node,
                "referenceRange without usable bounds or text; left out",
            )
        return None
    return out


def _quantity_text(q: dict[str, Any]) -> str:
    number = q["value"]
    shown = format(number, "f") if isinstance(number, Decimal) else str(number)
    return " ".join(p for p in (q.get("comparator"), shown, q.get("unit")) if p)


def display_value(value: ValueElement) -> str:
    """A value[x] as a person reads it: "61 umol/L", "< 0.5 mg/L", "négatif"."""
    element, content = value
    if element == "valueQuantity":
        return _quantity_text(content)
    if element == "valueRange":
        return f"{_quantity_text(content['low'])} – {_quantity_text(content['high'])}"
    if element == "valueCodeableConcept":
        first = content.get("coding", [{}])[0]
        return str(content.get("text") or first.get("display") or first.get("code"))
    if element == "valueRatio":
        return f"{_quantity_text(content['numerator'])} : {_quantity_text(content['denominator'])}"
    return str(content)
