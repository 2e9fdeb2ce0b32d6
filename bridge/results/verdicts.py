"""The comparability verdicts of a series as OperationOutcome issues (brief §6).

The verdicts themselves come from `bridge.terminology.compare`; this module only
decides which results are compared (each pair of consecutive results of one
analysis, and the series as a whole) and writes each verdict as an issue:
severity information (comparable) or warning (not comparable on the code alone),
code business-rule, details.coding from the project's verdict CodeSystem,
details.text in French and English, expression naming the entries concerned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bridge.terminology import JdvIndex, compare
from bridge.terminology.comparison import (
    VERDICT_SYSTEM,
    VERDICTS,
    Comparison,
    cannot_convert,
    not_convertible,
)

__all__ = ["Point", "issue", "series_issues"]


@dataclass(frozen=True, slots=True)
class Point:
    """A result of a series: where it is in the Bundle, the Observation as the lab gave
    it, and why it could not be shown in the series unit (None when it could)."""

    position: int
    observation: dict[str, Any]
    refused: str | None = None


def issue(comparison: Comparison, positions: Sequence[int], *, scope: str) -> dict[str, Any]:
    """One OperationOutcome issue for a verdict about the entries at `positions`."""
    display = VERDICTS[comparison.code][0]
    return {
        "severity": "information" if comparison.comparable else "warning",
        "code": "business-rule",
        "details": {
            "coding": [{"system": VERDICT_SYSTEM, "code": comparison.code, "display": display}],
            "text": comparison.text,
        },
        "diagnostics": f"{scope}: {comparison.reason}",
        "expression": [f"Bundle.entry[{p}]" for p in positions],
    }


def _pair(a: Point, b: Point, jdv: JdvIndex) -> Comparison:
    verdict = compare(a.observation, b.observation, jdv)
    refused = a.refused or b.refused
    return not_convertible(verdict, refused) if refused else verdict


def series_issues(points: Sequence[Point], jdv: JdvIndex) -> list[dict[str, Any]]:
    """Issues for one analysis's results, oldest first: each consecutive pair, each
    result that could not be converted, then the series as a whole (a `no-result`
    verdict, naming no entry, when there is none)."""
    if not points:  # the series as a whole still gets its verdict: nothing to compare
        display, french, english = VERDICTS["no-result"]
        coding = {"system": VERDICT_SYSTEM, "code": "no-result", "display": display}
        return [
            {
                "severity": "information",
                "code": "business-rule",
                "details": {"coding": [coding], "text": f"{french} / {english}"},
                "diagnostics": "whole series: no current result of this patient for these codes",
            }
        ]
    issues = []
    verdicts = []
    for a, b in zip(points, points[1:], strict=False):
        verdict = _pair(a, b, jdv)
        verdicts.append(verdict)
        issues.append(issue(verdict, (a.position, b.position), scope="pair"))
    for point in points:
        if point.refused:
            issues.append(issue(cannot_convert(point.refused), (point.position,), scope="result"))
    if len(points) == 1:  # what the code alone says of this analysis
        alone = _pair(points[0], points[0], jdv)
        if alone.comparable:  # not "same code, same unit": there is nothing beside it
            code = points[0].observation.get("code", {}).get("coding", [{}])[0].get("code")
            reason = f"one result: {code} has comparability level {alone.level} in the JDV"
            alone = replace(alone, reason=reason)
        verdicts.append(alone)
    whole = next((v for v in verdicts if not v.comparable), None) or next(
        (v for v in verdicts if v.verdict == "comparable-after-conversion"), verdicts[0]
    )
    issues.append(issue(whole, [p.position for p in points], scope="whole series"))
    return issues
