"""The geometry of a result-history chart, drawn by the server as inline SVG.

`layout(points, unit)` places the points of a series (already in one unit: the
`$series` service converted them) on a time axis and a value axis with round ticks,
the reference ranges as a band behind them (a step band when the labs' ranges
differ), and the segments between consecutive points (dashed where the series'
verdicts say the two are not comparable). It decides nothing about the results:
values, ranges, "converted" and "not comparable" come from the service.

A censored result ("< 0,5", "> 500": the lab gives a bound, not a value) is placed at
its bound but is not a measured point: `ChartPoint.comparator` keeps the bound's side
so that the page draws it as an arrow toward the values it may take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

from bridge.pages.formatting import format_decimal

__all__ = ["Chart", "ChartPoint", "layout"]

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 28, 48  # margins: axis labels and unit
MONTHS = "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split()


@dataclass(frozen=True, slots=True)
class ChartPoint:
    moment: datetime
    value: float
    low: float | None
    high: float | None
    converted: bool
    abnormal: bool
    tooltip: str
    comparator: str | None = None  # "<", "<=", ">=", ">": the value is only a bound

    @property
    def censored(self) -> str | None:
        """ "below" or "above" for a bound (the side the true value lies on), else None."""
        if self.comparator in ("<", "<="):
            return "below"
        if self.comparator in (">", ">="):
            return "above"
        return None


@dataclass(slots=True)
class Placed:
    x: float
    y: float
    point: ChartPoint


@dataclass(slots=True)
class Chart:
    unit: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    bands: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, w, h
    segments: list[tuple[float, float, float, float, bool]] = field(default_factory=list)
    points: list[Placed] = field(default_factory=list)

    @property
    def has_converted(self) -> bool:
        return any(p.point.converted for p in self.points)

    @property
    def has_abnormal(self) -> bool:
        return any(p.point.abnormal for p in self.points)

    @property
    def has_measured(self) -> bool:
        """Whether a point is drawn as a plain dot: a value the lab gave in this unit."""
        return any(not (p.point.converted or p.point.censored) for p in self.points)

    @property
    def has_censored(self) -> bool:
        return any(p.point.censored for p in self.points)

    @property
    def has_incomparable(self) -> bool:
        return any(segment[4] for segment in self.segments)


def _days(moment: datetime) -> float:
    return moment.toordinal() + (moment.hour * 60 + moment.minute) / 1440


def _nice_step(span: float, wanted: int = 5) -> float:
    raw = span / wanted
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _decimals(step: float) -> int:
    """The decimals the tick labels need (0.25 → 2, 5 → 0)."""
    return next(d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6 or d == 6)


def _value_ticks(low: float, high: float) -> tuple[float, float, list[float], int]:
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    pad = (high - low) * 0.08
    step = _nice_step(high + pad - (low - pad))
    start = math.floor((low - pad) / step) * step
    end = math.ceil((high + pad) / step) * step
    if low >= 0 and start < 0:
        start = 0.0
    count = round((end - start) / step)
    return start, end, [start + i * step for i in range(count + 1)], _decimals(step)


def _month_index(moment: date) -> int:
    return moment.year * 12 + moment.month - 1


def _time_ticks(first: float, last: float) -> list[tuple[float, str]]:
    span = last - first
    if span <= 75:  # days: the year on the first tick and where it changes
        step = next(s for s in (1, 2, 7, 14, 28) if span / s <= 7)
        ticks, year = [], None
        for d in range(math.ceil(first), math.floor(last) + 1, step):
            day = date.fromordinal(d)
            ticks.append((float(d), day.strftime("%d/%m" if day.year == year else "%d/%m/%Y")))
            year = day.year
        return ticks
    months = span / 30.44
    step = next(s for s in (1, 2, 3, 6, 12, 24, 60, 120) if months / s <= 7)
    ticks = []
    index = _month_index(date.fromordinal(math.ceil(first))) + 1
    index += -index % step
    while True:
        year, month = divmod(index, 12)
        day = date(year, month + 1, 1).toordinal()
        if day > last:
            return ticks
        label = f"{MONTHS[month]} {year}" if step < 12 else str(year)
        ticks.append((float(day), label))
        index += step


def layout(points: list[ChartPoint], unit: str, incomparable: set[tuple[int, int]]) -> Chart:
    """The chart of `points` (oldest first, all in `unit`); `incomparable` holds the
    index pairs of consecutive points the series' verdicts call not comparable."""
    chart = Chart(unit)
    if not points:
        return chart
    times = [_days(p.moment) for p in points]
    first, last = min(times), max(times)
    pad = max((last - first) * 0.08, 10.0)
    t0, t1 = first - pad, last + pad
    bounds = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    v0, v1, ticks, decimals = _value_ticks(min(bounds), max(bounds))

    def x(t: float) -> float:
        return round(chart.left + (t - t0) / (t1 - t0) * (chart.right - chart.left), 1)

    def y(v: float) -> float:
        return round(chart.bottom - (v - v0) / (v1 - v0) * (chart.bottom - chart.top), 1)

    chart.x_ticks = [(x(t), label) for t, label in _time_ticks(t0, t1)]
    chart.y_ticks = [(y(v), format_decimal(f"{v:.{decimals}f}")) for v in ticks]
    chart.points = [Placed(x(t), y(p.value), p) for t, p in zip(times, points, strict=True)]
    edges = [chart.left] + [
        (a.x + b.x) / 2 for a, b in zip(chart.points, chart.points[1:], strict=False)
    ]
    edges.append(chart.right)
    for i, placed in enumerate(chart.points):
        p = placed.point
        if p.low is None and p.high is None:
            continue
        top = y(min(p.high, v1)) if p.high is not None else chart.top
        bottom = y(max(p.low, v0)) if p.low is not None else chart.bottom
        band = (round(edges[i], 1), top, round(edges[i + 1] - edges[i], 1), round(bottom - top, 1))
        previous = chart.bands[-1] if chart.bands else None
        if previous and previous[1] == top and previous[3] == band[3]:
            chart.bands[-1] = (previous[0], top, round(band[0] + band[2] - previous[0], 1), band[3])
        else:
            chart.bands.append(band)
    for i, (a, b) in enumerate(zip(chart.points, chart.points[1:], strict=False)):
        chart.segments.append((a.x, a.y, b.x, b.y, (i, i + 1) in incomparable))
    return chart
