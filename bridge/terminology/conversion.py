"""Converting a result and its reference ranges to another unit (brief §7).

Three paths, tried in this order:

1. the lab already gave the result in that unit (brief §7: never convert then): a
   sibling Observation of the same report holding the same analysis in that unit
   (5.30 mmol/L and 0.95 g/L side by side) is answered as it is; a 2021-style second
   unit (kept as an Observation.component) gives its value, unconverted; asked in a
   unit of the dimension of the lab's other value (mg/dL beside g/L), that value is
   scaled by UCUM, never the first one converted with the JDV factor;
2. same dimension (g/L ⇔ g/dL): UCUM, the LOINC code is kept;
3. mass ⇔ moles: the JDV correspondence of the LOINC code gives the target code and
   the factor of that direction; the result's unit must be the JDV row's unit (a
   unit of the same dimension is first brought to it by UCUM, exactly). Never a
   molar mass, never silently.

Converted values are rounded to the significant digits of the value converted,
and never fewer than three (0.95 g/L → 5.27 mmol/L; 0.63 → 3.50); a decimal shift
(g/L → mg/dL) keeps exactly the digits the lab wrote (0.63 g/L → 63 mg/dL). The converted
Observation says it was converted and keeps the original code and value in the
ANS extension `mesures-original-data`, points to the original by derivedFrom, and
carries the tag `converted` of the project CodeSystem `VIEW_SYSTEM` in meta.tag (a
second unit of the lab carries `second-unit`). Nothing here reads a store: finding
the report's other Observations is the caller's part (`bridge.results`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from bridge.errors import ConversionRefused
from bridge.terminology.conceptmap import LOINC, JdvIndex, Match
from bridge.terminology.ucum import (
    dimensionality,
    round_significant,
    same_dimension,
    significant_digits,
    ucum_code,
    ucum_factor,
)

__all__ = [
    "ORIGINAL_DATA",
    "VIEW_SYSTEM",
    "VIEW_TAGS",
    "Path",
    "convert_observation",
    "in_unit",
    "plan_conversion",
]

UCUM = "http://unitsofmeasure.org"
ORIGINAL_DATA = (
    "https://interop.esante.gouv.fr/ig/fhir/mesures/StructureDefinition/mesures-original-data"
)
VIEW_SYSTEM = "https://crbio-bridge.org/fhir/CodeSystem/result-view"
# meta.tag codes of a result shown in another unit than the stored one: (display, definition)
VIEW_TAGS = {
    "converted": (
        "Converted by crbio-bridge",
        "The value and reference ranges were converted to another unit by crbio-bridge "
        "(JDV factor or UCUM); the original is in the extension mesures-original-data.",
    ),
    "second-unit": (
        "Second unit given by the laboratory",
        "The value the laboratory itself reported in this unit (a second unit of the "
        "same result), shown unconverted.",
    ),
}
System = Literal["SI", "conventional"]


@dataclass(frozen=True, slots=True)
class Path:
    """How to go from a result's unit to the target unit."""

    target_unit: str  # UCUM code
    before: Decimal = Decimal(1)  # UCUM factor to the JDV row's unit
    jdv: Match | None = None  # the correspondence used, if any
    after: Decimal = Decimal(1)  # UCUM factor from the correspondence's unit

    @property
    def factor(self) -> Decimal:
        jdv = Decimal(self.jdv.property("factor")) if self.jdv is not None else Decimal(1)
        return self.before * jdv * self.after


def primary_code(observation: dict[str, Any]) -> tuple[str | None, str | None]:
    coding = next(iter(observation.get("code", {}).get("coding", ())), {})
    return coding.get("system"), coding.get("code")


def quantity_unit(q: dict[str, Any]) -> str:
    """The UCUM code of a Quantity; a unit without UCUM code is never converted (brief §10)."""
    if q.get("system") == UCUM and q.get("code"):
        return str(q["code"])
    if not q.get("unit") and not q.get("code"):
        raise ConversionRefused("unit-unknown", "the value has no unit: never converted")
    raise ConversionRefused(
        "unit-unknown",
        f"unit {q.get('unit')!r} is not a UCUM unit: kept as given, never converted",
    )


def _is_substance(unit: str) -> bool:
    return "[substance]" in dimensionality(unit)


def plan_conversion(
    observation: dict[str, Any],
    jdv: JdvIndex,
    *,
    to_unit: str | None = None,
    to_system: System | None = None,
) -> Path:
    """Find how to convert; refuses with a reason when there is no safe way."""
    q = observation.get("valueQuantity")
    if not isinstance(q, dict) or "value" not in q:
        raise ConversionRefused("not-a-quantity", "the result has no quantity to convert")
    unit = quantity_unit(q)
    system, code = primary_code(observation)
    if to_unit is not None:
        target = ucum_code(to_unit)
        if same_dimension(unit, target):
            return Path(target, before=ucum_factor(unit, target))
        return _jdv_path(
            unit,
            system,
            code,
            jdv,
            lambda m: same_dimension(m.property("target-unit"), target),
            target,
        )
    if to_system is None:
        raise ConversionRefused("no-target", "give a target unit or a target unit system")
    want_substance = to_system == "SI"
    if _is_substance(unit) == want_substance:
        return Path(unit)  # already in that system
    try:
        return _jdv_path(
            unit,
            system,
            code,
            jdv,
            lambda m: _is_substance(m.property("target-unit")) == want_substance,
            None,
        )
    except ConversionRefused:
        if not want_substance:
            raise
        # No substance form in the JDV (haemoglobin): SI is the same quantity per litre
        per_litre = _per_litre(unit)
        return Path(per_litre, before=ucum_factor(unit, per_litre))


def _per_litre(unit: str) -> str:
    """g/dL → g/L, mg/mL → mg/L; a unit already per litre (or of another shape) stays."""
    found = re.fullmatch(r"(.+)/(dL|cL|mL)", unit)
    return f"{found.group(1)}/L" if found else unit


def in_unit(observation: dict[str, Any], unit: str | None, system: System | None) -> bool:
    """Whether a result is a quantity in `unit` (UCUM) or, without one, in the unit
    `system` (SI: substance concentrations, conventional: the others)."""
    q = observation.get("valueQuantity")
    if not isinstance(q, dict) or "value" not in q:
        return False
    try:
        own = quantity_unit(q)
        if unit is not None:
            return own == ucum_code(unit)
        return system is not None and _is_substance(own) == (system == "SI")
    except ConversionRefused:
        return False


def _jdv_path(
    unit: str, system: str | None, code: str | None, jdv: JdvIndex, fits: Any, target: str | None
) -> Path:
    if system != LOINC or code is None:
        raise ConversionRefused(
            "no-factor",
            f"{_other_dimension(unit, target)}the result is not coded in LOINC: no JDV factor",
        )
    candidates = [
        m
        for m in jdv.translate(LOINC, code)
        if m.property("factor") is not None and m.property("target-unit")
    ]
    chosen = next((m for m in candidates if fits(m)), None)
    if chosen is None and candidates and target is not None:
        reachable = ", ".join(sorted({str(m.property("target-unit")) for m in candidates}))
        raise ConversionRefused(
            "dimension-differs",
            f"{_other_dimension(unit, target)}the JDV Circuit de la biologie converts {code} "
            f"to {reachable} only",
        )
    if chosen is None:
        raise ConversionRefused(
            "no-factor",
            f"{_other_dimension(unit, target)}the JDV Circuit de la biologie gives no "
            f"conversion factor for {code} to that unit",
        )
    row_unit = chosen.property("source-unit")
    if not row_unit or not same_dimension(unit, row_unit):
        raise ConversionRefused(
            "unit-mismatch",
            f"the result is in {unit} but the JDV factor of {code} is for {row_unit}",
        )
    corresponding = chosen.property("target-unit")
    final = target or corresponding
    return Path(
        final,
        before=ucum_factor(unit, row_unit),
        jdv=chosen,
        after=ucum_factor(corresponding, final),
    )


def _other_dimension(unit: str, target: str | None) -> str:
    """The first half of a refusal: the two units measure different things."""
    if target is None:
        return ""
    return (
        f"{unit} ({dimensionality(unit)}) and {target} ({dimensionality(target)}) measure "
        "different things, so UCUM cannot convert them; "
    )


def convert_observation(
    observation: dict[str, Any],
    jdv: JdvIndex,
    *,
    to_unit: str | None = None,
    to_system: System | None = None,
    siblings: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The result with its value and every reference-range bound in the target unit.

    `siblings`: the other Observations of the result's report. When the report already
    gives the result in the target unit, that is the answer, never a conversion: the
    sibling itself (as stored), or the second unit of the result. When it gives the
    result in another unit of the target's dimension (g/L, asked in mg/dL), that value is
    scaled by UCUM rather than the other one converted with the JDV factor. A result
    already in the target unit comes back as it is.

    Raises:
        ConversionRefused: the unit is unknown, the dimension differs without a JDV
            factor, or the JDV has no factor for this analysis (`.reason` says which).
    """
    q = observation.get("valueQuantity")
    if not isinstance(q, dict) or "value" not in q:  # a withdrawn result is never answered
        raise ConversionRefused("not-a-quantity", "the result has no quantity to convert")
    if in_unit(observation, to_unit, to_system) and not _ranges_elsewhere(observation):
        return copy.deepcopy(observation)
    siblings = list(siblings)

    def in_target(other: dict[str, Any]) -> bool:
        return in_unit(other, to_unit, to_system)

    sibling = _sibling(observation, jdv, siblings, in_target)
    if sibling is not None:
        return copy.deepcopy(sibling)
    given = _given_by_the_lab(observation, in_target)
    if given is not None:
        return given
    if to_unit is not None and not _fits(observation, to_unit):
        # The lab gave the result in a unit of the asked dimension (0.95 g/L beside
        # 5.30 mmol/L, asked in mg/dL): its value, scaled by UCUM, never the JDV factor
        def fits(other: dict[str, Any]) -> bool:
            return _fits(other, to_unit)  # type: ignore[arg-type]

        same_kind = _sibling(observation, jdv, siblings, fits) or _given_by_the_lab(
            observation, fits
        )
        if same_kind is not None:
            return convert_observation(same_kind, jdv, to_unit=to_unit)
    path = plan_conversion(observation, jdv, to_unit=to_unit, to_system=to_system)
    if (
        path.jdv is None
        and path.factor == 1
        and path.target_unit == quantity_unit(observation["valueQuantity"])
        and not _ranges_elsewhere(observation)
    ):
        return copy.deepcopy(observation)  # already in that unit, its ranges too
    original = observation["valueQuantity"]
    converted = copy.deepcopy(observation)
    for key in ("id", "meta", "text", "component"):
        converted.pop(key, None)
    converted["meta"] = {"tag": [_tag("converted")]}
    converted["valueQuantity"] = _convert_quantity(original, path)
    for rr in converted.get("referenceRange", ()):
        for bound in ("low", "high"):
            if bound in rr:
                bound_path = _bound_path(rr[bound], observation, path, jdv)
                rr[bound] = _convert_quantity(rr[bound], bound_path)
    if path.jdv is not None:
        coding = {"system": LOINC, "code": path.jdv.code}
        if path.jdv.display:
            coding["display"] = path.jdv.display
        converted["code"] = {
            "coding": [coding],
            **({"text": observation["code"]["text"]} if "text" in observation["code"] else {}),
        }
    converted.setdefault("extension", []).append(
        {
            "url": ORIGINAL_DATA,
            "extension": [
                {"url": "has-been-converted", "valueBoolean": True},
                {"url": "original-code", "valueCodeableConcept": observation["code"]},
                {"url": "original-value", "valueQuantity": original},
            ],
        }
    )
    if observation.get("id"):
        converted["derivedFrom"] = [{"reference": f"Observation/{observation['id']}"}]
    return converted


def _bound_path(
    bound: dict[str, Any], observation: dict[str, Any], path: Path, jdv: JdvIndex
) -> Path:
    """How a range bound reaches the target unit.

    A bound without any unit is read in the value's unit (labs leave it out beside the
    value; the converted bound then says its unit). A bound in another unit of the
    value's dimension is brought to the value's unit first; one already of the target's
    dimension (a g/L range beside a mmol/L value, shown in g/L) goes there by UCUM; one
    in the unit of the JDV counterpart (g/L beside mmol/L, shown in mmol/L) by that
    counterpart's own factor, as its result would be.
    """
    value_unit = quantity_unit(observation["valueQuantity"])
    unit = value_unit if not (bound.get("unit") or bound.get("code")) else quantity_unit(bound)
    if unit == value_unit:
        return path
    if same_dimension(unit, value_unit):
        return Path(
            path.target_unit,
            before=path.before * ucum_factor(unit, value_unit),
            jdv=path.jdv,
            after=path.after,
        )
    if same_dimension(unit, path.target_unit):
        return Path(path.target_unit, before=ucum_factor(unit, path.target_unit))
    system, code = primary_code(observation)
    for match in jdv.translate(LOINC, code or "") if system == LOINC else ():
        if same_dimension(unit, match.property("target-unit") or "1"):
            counterpart = {
                "code": {"coding": [{"system": LOINC, "code": match.code}]},
                "valueQuantity": {"value": bound["value"], "system": UCUM, "code": unit},
            }
            return plan_conversion(counterpart, jdv, to_unit=path.target_unit)
    raise ConversionRefused(
        "unit-mismatch",
        f"a reference range in {unit} beside a value in {value_unit}: "
        f"neither can be brought to the other's unit here",
    )


def _ranges_elsewhere(observation: dict[str, Any]) -> bool:
    """Whether a reference-range bound is in another UCUM unit than the value (a range
    in mg/dL beside a value in g/L): shown in one unit, the bound is converted."""
    q = observation.get("valueQuantity")
    unit = q.get("code") if isinstance(q, dict) and q.get("system") == UCUM else None
    return unit is not None and any(
        isinstance(bound := rr.get(side), dict)
        and bound.get("system") == UCUM
        and bound.get("code") not in (None, unit)
        for rr in observation.get("referenceRange", ())
        for side in ("low", "high")
    )


def _convert_quantity(q: dict[str, Any], path: Path) -> dict[str, Any]:
    number = Decimal(str(q["value"]))
    digits = significant_digits(number)
    if not _power_of_ten(path.factor):  # a decimal shift (g/L → mg/dL) adds no digit
        digits = max(3, digits)
    out = {k: v for k, v in q.items() if k in ("comparator",)}
    # a factor of exactly 1 (10*9/L → /nL, or the value of a result whose range only is
    # converted) keeps the number as written
    out["value"] = number if path.factor == 1 else round_significant(number * path.factor, digits)
    out.update(unit=path.target_unit, system=UCUM, code=path.target_unit)
    return out


def _power_of_ten(factor: Decimal) -> bool:
    """1000, 0.01: moving the decimal point, exact, with the digits the lab wrote."""
    return factor > 0 and factor.normalize().as_tuple().digits == (1,)


def _tag(code: str) -> dict[str, str]:
    return {"system": VIEW_SYSTEM, "code": code, "display": VIEW_TAGS[code][0]}


def _fits(observation: dict[str, Any], unit: str) -> bool:
    """Whether a result is a UCUM quantity of the dimension of `unit`."""
    q = observation.get("valueQuantity")
    if not isinstance(q, dict) or "value" not in q:
        return False
    try:
        return same_dimension(quantity_unit(q), unit)
    except ConversionRefused:
        return False


def _sibling(
    observation: dict[str, Any],
    jdv: JdvIndex,
    siblings: Iterable[dict[str, Any]],
    wanted: Callable[[dict[str, Any]], bool],
) -> dict[str, Any] | None:
    """The report's own Observation of the same analysis (same code, or its JDV
    correspondence), taken at the same time, that is `wanted` (in the target unit).

    It must be in another unit than the result: two Observations of one code in one
    unit are two results (two techniques), not one result in two units.
    """
    system, code = primary_code(observation)
    if not system or not code:
        return None
    own_unit = observation["valueQuantity"].get("code")
    same = {(system, code)}
    if system == LOINC:
        same |= {(m.system, m.code) for m in jdv.translate(LOINC, code)}
    moment = _effective(observation)
    for sibling in siblings:
        if sibling.get("id") is not None and sibling.get("id") == observation.get("id"):
            continue
        if (
            primary_code(sibling) in same
            and (sibling.get("valueQuantity") or {}).get("code") != own_unit
            and _effective(sibling) == moment
            and sibling.get("subject") == observation.get("subject")
            and wanted(sibling)
        ):
            return sibling
    return None


def _effective(observation: dict[str, Any]) -> Any:
    return next((v for k, v in observation.items() if k.startswith("effective")), None)


def _given_by_the_lab(
    observation: dict[str, Any], wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The value the lab itself gave as a second unit (a component) that is `wanted` (in
    the target unit), unconverted."""
    for component in observation.get("component", ()):
        q = component.get("valueQuantity", {})
        if wanted(component):
            view = copy.deepcopy(observation)
            for key in ("id", "meta", "text", "component"):
                view.pop(key, None)
            view["meta"] = {"tag": [_tag("second-unit")]}
            view["valueQuantity"] = q
            view["code"] = _second_unit_code(observation["code"], component.get("code", {}))
            view["referenceRange"] = component.get("referenceRange", [])
            if not view["referenceRange"]:
                del view["referenceRange"]
            if observation.get("id"):
                view["derivedFrom"] = [{"reference": f"Observation/{observation['id']}"}]
            return view
    return None


def _second_unit_code(own: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The code of a second unit's view: the component's own (the JDV correspondence the
    mapping found), else the result's codings with the component's text: a view without
    any coding would drop out of every client's grouping by code (brief §3: never drop
    LOINC)."""
    if given.get("coding"):
        return given
    code = {"coding": own["coding"]} if own.get("coding") else {}
    text = given.get("text") or own.get("text")
    return {**code, **({"text": text} if text else {})}
