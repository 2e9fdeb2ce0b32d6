"""A result history page: the `$series` Bundle of one analysis, read for a clinician.

`bridge.results.series` does the work (which results join, the unit, conversions,
verdicts); this module only reads its Bundle: the points with their dates and
values (a converted point keeps the lab's original value and unit, from the
`mesures-original-data` extension), the reports they come from, and the verdicts'
alerts, in French, grouped by verdict with the dates they concern.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.pages.chart import Chart, ChartPoint, layout
from bridge.pages.formatting import (
    coding_label,
    display_unit,
    format_date,
    format_quantity,
    format_range,
    format_value,
    interpretation,
    observation_label,
)
from bridge.pages.reports import effective, reference_display
from bridge.results.reports import ReportIndex
from bridge.store import Store
from bridge.terminology import JdvIndex
from bridge.terminology.comparison import VERDICT_SYSTEM, VERDICTS
from bridge.terminology.conceptmap import LOINC
from bridge.terminology.conversion import ORIGINAL_DATA, VIEW_SYSTEM

__all__ = ["Alert", "History", "HistoryRow", "read_series"]

_POSITION = re.compile(r"^Bundle\.entry\[(\d+)\]$")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    date: str
    value: str
    reference: str
    interpretation: str
    abnormal: bool
    converted: bool
    original: str  # the lab's value and unit, for a converted point
    plotted: bool  # False: not in the chart's unit (the alerts say why)
    quantitative: bool  # a quantity (a coded or text result is never plotted)
    report_id: str | None
    lab: str
    method: str = ""  # the technique: the alerts ask to check it


@dataclass(frozen=True, slots=True)
class Alert:
    severity: str  # warning or information
    text: str  # in French
    dates: list[str]


@dataclass(slots=True)
class History:
    title: str
    unit: str
    chart: Chart | None
    rows: list[HistoryRow] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def quantitative(self) -> bool:
        """Whether units mean anything here (a coded or text result, or a number without
        unit such as an INR, has none)."""
        return any(row.quantitative for row in self.rows) and self.unit != ""

    @property
    def warnings(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity == "warning"]

    @property
    def notes(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity != "warning"]


def _moment(text: str | None) -> datetime | None:
    """The wall-clock time the lab wrote (offset dropped, as the dates are shown)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        parts = [int(p) for p in text[:7].split("-") if p.isdigit()]
        return datetime(parts[0], parts[1] if len(parts) > 1 else 1, 1) if parts else None


def _original(observation: dict[str, Any]) -> dict[str, Any] | None:
    for extension in observation.get("extension", ()):
        if extension.get("url") == ORIGINAL_DATA:
            for part in extension.get("extension", ()):
                if part.get("url") == "original-value":
                    return part.get("valueQuantity")  # type: ignore[no-any-return]
    return None


def _converted(observation: dict[str, Any]) -> bool:
    tags = observation.get("meta", {}).get("tag", ())
    return any(t.get("system") == VIEW_SYSTEM and t.get("code") == "converted" for t in tags)


def _stored_id(observation: dict[str, Any]) -> str:
    """The stored Observation behind a view (a converted view names it in derivedFrom)."""
    if observation.get("id"):
        return str(observation["id"])
    reference = (observation.get("derivedFrom") or [{}])[0].get("reference", "")
    return str(reference).partition("/")[2]


def _unit_of(quantity: dict[str, Any]) -> str | None:
    """A quantity's UCUM code; "" for a number without unit (an INR), None without value
    or with a unit that is not UCUM."""
    if quantity.get("value") is None:
        return None
    if not quantity.get("unit") and not quantity.get("code"):
        return ""
    return quantity.get("code")


def _chart_unit(observations: list[dict[str, Any]]) -> str | None:
    """The unit of the series: the one most of its points are in (ties: the latest); ""
    when they are numbers without unit (an INR is drawn too)."""
    units = [_unit_of(o["valueQuantity"]) for o in observations if "valueQuantity" in o]
    counts = Counter(u for u in units if u is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(u for u in reversed(units) if u is not None and counts[u] == best)


def _alerts(issues: list[dict[str, Any]], dates: list[str]) -> list[Alert]:
    """One alert per verdict, with the dates of the results it concerns."""
    grouped: dict[tuple[str, str], set[int]] = {}
    for issue in issues:
        coding = (issue.get("details", {}).get("coding") or [{}])[0]
        if coding.get("system") == VERDICT_SYSTEM and coding.get("code") in VERDICTS:
            text = VERDICTS[coding["code"]][1]
        else:
            text = str(issue.get("details", {}).get("text") or issue.get("diagnostics") or "")
        positions = {
            int(m.group(1)) for e in issue.get("expression", ()) if (m := _POSITION.match(e))
        }
        key = ("warning" if issue.get("severity") in ("warning", "error") else "information", text)
        grouped.setdefault(key, set()).update(positions)
    return [
        Alert(severity, text, [dates[p] for p in sorted(positions) if p < len(dates)])
        for (severity, text), positions in grouped.items()
        if text
    ]


def _incomparable_pairs(issues: list[dict[str, Any]]) -> set[tuple[int, int]]:
    pairs = set()
    for issue in issues:
        positions = [
            int(m.group(1)) for e in issue.get("expression", ()) if (m := _POSITION.match(e))
        ]
        if issue.get("severity") == "warning" and len(positions) == 2:
            pairs.add((min(positions), max(positions)))
    return pairs


def _number(value: Any) -> float | None:
    try:
        return float(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None


def read_series(store: Store, bundle: dict[str, Any], code: str, jdv: JdvIndex) -> History:
    """The history page's content from the `$series` Bundle of `code` (system|code)."""
    observations = [
        e["resource"] for e in bundle.get("entry", ()) if e["search"]["mode"] == "match"
    ]
    issues = [
        issue
        for e in bundle.get("entry", ())
        if e["search"]["mode"] == "outcome"
        for issue in e["resource"].get("issue", ())
        if issue.get("code") == "business-rule"
    ]
    reports = ReportIndex(store, [_stored_id(o) for o in observations])
    unit = _chart_unit(observations)
    rows, points, positions = [], [], []
    for position, observation in enumerate(observations):
        quantity = observation.get("valueQuantity") or {}
        original = _original(observation) if _converted(observation) else None
        flag, abnormal = interpretation(observation)
        report = reports.report_of(_stored_id(observation))
        moment = _moment(effective(observation))
        value = _number(quantity.get("value"))
        plotted = value is not None and unit is not None and _unit_of(quantity) == unit
        date = format_date(effective(observation))
        rows.append(
            HistoryRow(
                date=date,
                value=format_quantity(quantity) if quantity else format_value(observation),
                reference=" ; ".join(
                    format_range(r) for r in observation.get("referenceRange", ())
                ),
                interpretation=flag,
                abnormal=abnormal,
                converted=original is not None,
                original=format_quantity(original) if original else "",
                plotted=plotted and moment is not None,
                quantitative=bool(quantity),
                report_id=report["id"] if report else None,
                lab=reference_display(observation.get("performer"), "Organization/"),
                method=coding_label(observation.get("method")),
            )
        )
        if plotted and moment is not None and value is not None:
            ranges = observation.get("referenceRange") or [{}]
            tooltip = f"{date} : {rows[-1].value}"
            if original:
                tooltip += f" (converti ; résultat rendu par le laboratoire : {rows[-1].original})"
            points.append(
                ChartPoint(
                    moment=moment,
                    value=value,
                    low=_number((ranges[0].get("low") or {}).get("value")),
                    high=_number((ranges[0].get("high") or {}).get("value")),
                    converted=original is not None,
                    abnormal=abnormal,
                    tooltip=tooltip,
                    comparator=quantity.get("comparator"),
                )
            )
            positions.append(position)
    renumber = {p: i for i, p in enumerate(positions)}
    pairs = {
        (renumber[a], renumber[b])
        for a, b in _incomparable_pairs(issues)
        if a in renumber and b in renumber
    }
    unit_label = next(
        (
            o["valueQuantity"].get("unit") or unit
            for o in observations
            if unit is not None and o.get("valueQuantity", {}).get("code") == unit
        ),
        unit or "",
    )
    unit_label = display_unit(str(unit_label or ""))
    return History(
        title=observation_label(observations[-1]) if observations else _untitled(code, jdv),
        unit=unit_label,
        chart=layout(points, unit_label, pairs) if points else None,
        rows=rows,
        alerts=_alerts(issues, [r.date for r in rows]),
    )


def _untitled(code: str, jdv: JdvIndex) -> str:
    """A history without result to name it: the JDV's label of the code, else the code."""
    system, _, bare = code.rpartition("|")
    return (system == LOINC and jdv.analysis_label(bare)) or f"code {bare}"
