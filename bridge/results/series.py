"""A patient's result series in one unit, with the comparability verdicts (`$series`).

`series(store, terminology, patient, codes, unit=…, unit_system=…, date=…)` answers a
searchset Bundle: the results (search.mode match), oldest first, then one
OperationOutcome (search.mode outcome) with the verdicts of `verdicts.py`.

- Joined: the patient's current results (final, amended, corrected, preliminary) for
  each asked code and every code the JDV links to it; never a cancelled result, one
  entered in error, or one of a replaced report (ingestion deletes those; a report
  cancelled or entered in error takes its results with it).
- The asked codes (several: the client's own equivalents, such as two labs' TSH codes)
  and the codes the JDV links to them are one series, shown in one unit: `unit`, else
  the unit of `unit_system`, else the JDV UCUM unit of the (first) asked code, else the
  unit of the most recent result. Consecutive results of different codes get the
  verdict the JDV gives on that pair.
- A report giving one result in two units (two Observations, or a second unit) is one
  point, in the series unit when the lab gave it: the lab's value, never converted.
- Other results are converted (`bridge.terminology.convert_observation`): a view,
  nothing stored changes. A result that cannot be converted stays in its own unit,
  with a warning.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.errors import ConversionRefused
from bridge.results.reports import ReportIndex, all_matches
from bridge.results.verdicts import Point, series_issues
from bridge.store import Store, parse_query
from bridge.store.indexing import MIN_TIME, date_range
from bridge.terminology import JdvIndex, TerminologyService, convert_observation
from bridge.terminology.conceptmap import LOINC
from bridge.terminology.conversion import (
    System,
    in_unit,
    primary_code,
    quantity_unit,
)
from bridge.terminology.operations import InvalidRequest
from bridge.terminology.ucum import ucum_code

__all__ = ["CURRENT_STATUSES", "parse_codes", "series"]

CURRENT_STATUSES = ("final", "amended", "corrected", "preliminary")
_DEAD_REPORTS = ("cancelled", "entered-in-error")
Code = tuple[Any, str]  # (system, or ... for any system; code)


@dataclass(frozen=True, slots=True)
class _Analysis:
    """The first asked code (its JDV unit is the default) and every code of the series."""

    asked: Code
    codes: set[Code]


def parse_codes(codes: str | Iterable[str]) -> list[Code]:
    """ "system|code" (or a bare code: any system) items, comma-separated or in a list."""
    items = [codes] if isinstance(codes, str) else list(codes)
    parsed: list[Code] = []
    for item in items:
        for text in item.split(","):
            system, bar, code = text.strip().rpartition("|")
            if not code:
                raise InvalidRequest(f"code {text!r}: expected system|code")
            parsed.append(((system or None) if bar else ..., code))
    if not parsed:
        raise InvalidRequest("$series needs at least one code (system|code)")
    return parsed


def series(
    store: Store,
    terminology: TerminologyService,
    patient: str,
    codes: str | Iterable[str],
    *,
    unit: str | None = None,
    unit_system: str | None = None,
    date: str | Sequence[str] = (),
    base: str | None = None,
) -> dict[str, Any]:
    """The series Bundle (see the module docstring); `base` makes entries' fullUrls.

    Raises:
        InvalidRequest: no patient or code, an unknown unit or unit system.
        InvalidSearch: a date that is not a FHIR date.
    """
    reference = _patient_reference(patient)
    target_unit, system = _target(unit, unit_system)
    jdv = terminology.jdv()
    analysis = _analysis(parse_codes(codes), jdv)
    dates = [date] if isinstance(date, str) else list(date)
    found = _current_results(store, reference, analysis, dates)
    reports = ReportIndex(store, [r["id"] for r in found])
    kept = [r for r in found if _report_status(reports, r) not in _DEAD_REPORTS]
    chosen_unit = target_unit or _series_unit(analysis, kept, jdv, system)
    points: list[Point] = []
    entries: list[dict[str, Any]] = []
    for result in _one_per_report(kept, reports, jdv, chosen_unit, system):
        view, refused = _shown(result, kept, reports, jdv, chosen_unit, system)
        points.append(Point(len(entries), result, refused))
        entries.append(_entry(view, base))
    _shown_in_the_asked_unit(unit, points)
    issues = series_issues(points, jdv)
    entries.append(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {"resourceType": "OperationOutcome", "issue": issues},
            "search": {"mode": "outcome"},
        }
    )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(points), "entry": entries}


def _shown_in_the_asked_unit(unit: str | None, points: list[Point]) -> None:
    """A unit the client asked for that no result can be shown in is refused (422), not
    answered with every result left in its own unit."""
    quantities = [p for p in points if "valueQuantity" in p.observation]
    if unit and quantities and all(p.refused for p in quantities):
        raise ConversionRefused(
            "dimension-differs",
            f"none of the {len(quantities)} results can be shown in {unit}: "
            f"{quantities[-1].refused}",
        )


def _patient_reference(patient: str) -> str:
    text = (patient or "").strip()
    if not text:
        raise InvalidRequest("$series needs the patient (id or Patient/id)")
    if "/" in text:
        kind, _, identifier = text.rstrip("/").rpartition("/")
        if not kind.endswith("Patient") or not identifier:
            raise InvalidRequest(f"patient {patient!r}: expected an id or Patient/id")
        text = identifier
    return f"Patient/{text}"


def _target(unit: str | None, unit_system: str | None) -> tuple[str | None, System | None]:
    if unit:
        try:
            return ucum_code(unit), None
        except ConversionRefused as exc:
            raise InvalidRequest(f"unit {unit!r} is not a UCUM unit") from exc
    if unit_system:
        if unit_system not in ("SI", "conventional"):
            raise InvalidRequest(f"unit-system {unit_system!r}: expected SI or conventional")
        return None, unit_system  # type: ignore[return-value]
    return None, None


def _analysis(asked: list[Code], jdv: JdvIndex) -> _Analysis:
    """The asked codes with every code the JDV links to them (mass ⇔ moles)."""
    codes: set[Code] = set(asked)
    for system, code in asked:
        if system in (LOINC, ...):
            codes |= _linked(code, jdv)
    return _Analysis(asked[0], codes)


def _linked(code: str, jdv: JdvIndex) -> set[Code]:
    """The LOINC codes the JDV links to `code`, either way (14749-6 ⇔ 2345-7)."""
    matches = (*jdv.translate(LOINC, code), *jdv.translate(LOINC, code, reverse=True))
    return {(match.system, match.code) for match in matches}


def _current_results(
    store: Store, patient: str, analysis: _Analysis, dates: list[str]
) -> list[dict[str, Any]]:
    """The patient's current results with any of the codes, oldest first (store search)."""
    codes = sorted(analysis.codes, key=str)
    tokens = ",".join(
        (code if system is ... else f"{system or ''}|{code}").replace(",", "\\,")
        for system, code in codes
    )
    params = [
        ("patient", patient),
        ("code", tokens),
        ("status", ",".join(CURRENT_STATUSES)),
        ("_sort", "date"),
        *(("date", d) for d in dates),
    ]
    found = [s.resource() for s in all_matches(store, parse_query("Observation", params))]
    mine = [r for r in found if r.get("subject", {}).get("reference") == patient]
    return sorted(mine, key=_moment)  # a period by its start, as the chart draws it


def _report_status(reports: ReportIndex, observation: dict[str, Any]) -> str | None:
    report = reports.report_of(observation["id"])
    return report.get("status") if report else None


def _series_unit(
    analysis: _Analysis, results: list[dict[str, Any]], jdv: JdvIndex, system: System | None
) -> str | None:
    """The unit system's unit, else the JDV UCUM unit of the asked code, else the unit of
    the most recent result (a UCUM code; None when no result has one)."""
    quantities = [r for r in reversed(results) if _ucum_unit(r) is not None]
    if system is not None:  # the lab's second unit counts: 78 µmol/L with 8.8 mg/L
        for result in quantities:
            try:
                view = convert_observation(result, jdv, to_system=system)
            except ConversionRefused:
                continue
            return _ucum_unit(view)
    concept = jdv.concept(analysis.asked[1]) if analysis.asked[0] in (LOINC, ...) else None
    if concept is not None and concept.ucum_unit and system is None:
        try:
            return ucum_code(concept.ucum_unit)
        except ConversionRefused:
            pass
    return _ucum_unit(quantities[0]) if quantities else None


def _ucum_unit(observation: dict[str, Any]) -> str | None:
    q = observation.get("valueQuantity")
    try:
        return quantity_unit(q) if isinstance(q, dict) and "value" in q else None
    except ConversionRefused:
        return None


def _one_per_report(
    results: list[dict[str, Any]],
    reports: ReportIndex,
    jdv: JdvIndex,
    unit: str | None,
    system: System | None,
) -> list[dict[str, Any]]:
    """One point per result of a report: of the Observations giving one result in several
    units (same report, same time, same analysis: one code or its JDV correspondence,
    different units), the one in the series unit, else the first. Two analyses of one
    report (a glucose and a creatinine asked together) are two points."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for result in results:
        report = reports.report_of(result["id"])
        key = (report["id"] if report else result["id"], _moment(result), _analysis_of(result, jdv))
        groups.setdefault(key, []).append(result)
    chosen = []
    for group in groups.values():
        units = [_ucum_unit(r) for r in group]
        if len(group) == 1 or None in units or len(set(units)) < len(units):
            chosen += group  # not one result in several units: each is a point
            continue
        chosen.append(next((r for r in group if in_unit(r, unit, system)), group[0]))
    return chosen


def _analysis_of(result: dict[str, Any], jdv: JdvIndex) -> tuple[Any, str | None]:
    """One key for a code and the codes the JDV links to it (14749-6 and 2345-7 alike)."""
    system, code = primary_code(result)
    codes = {(system or "", code or "")}
    if system == LOINC and code:
        codes |= _linked(code, jdv)
    return min(codes)


def _shown(
    result: dict[str, Any],
    results: list[dict[str, Any]],
    reports: ReportIndex,
    jdv: JdvIndex,
    unit: str | None,
    system: System | None,
) -> tuple[dict[str, Any], str | None]:
    """The result as the series shows it, and why it is not in the series unit."""
    if "valueQuantity" not in result or (unit is None and system is None):
        return result, None
    report = reports.report_of(result["id"])
    siblings = [
        r
        for r in results
        if report is not None and r is not result and reports.report_of(r["id"]) is report
    ]
    try:
        return convert_observation(
            result, jdv, to_unit=unit, to_system=None if unit else system, siblings=siblings
        ), None
    except ConversionRefused as exc:
        return result, str(exc)


def _moment(observation: dict[str, Any]) -> int:
    """Effective time for ordering (a period by its start); results without one first."""
    value = observation.get("effectiveDateTime") or observation.get("effectiveInstant")
    period = observation.get("effectivePeriod") or {}
    found = date_range(value or period.get("start") or "")
    return found[0] if found else MIN_TIME


def _entry(view: dict[str, Any], base: str | None) -> dict[str, Any]:
    if view.get("id"):
        full_url = f"{base}/Observation/{view['id']}" if base else f"Observation/{view['id']}"
    else:  # a converted view: no id of its own, derivedFrom names the stored one
        source = view.get("derivedFrom", [{}])[0].get("reference", "")
        unit = view.get("valueQuantity", {}).get("code", "")
        full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{source}|{unit}')}"
    return {"fullUrl": full_url, "resource": view, "search": {"mode": "match"}}
