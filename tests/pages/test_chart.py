"""The chart's geometry: round ticks, the reference band, dashed incomparable segments."""

from __future__ import annotations

from datetime import datetime

from bridge.pages.chart import ChartPoint, layout


def point(day: str, value: float, low: float | None = 3.5, high: float | None = 6.1) -> ChartPoint:
    moment = datetime.fromisoformat(day)
    return ChartPoint(moment, value, low, high, converted=False, abnormal=False, tooltip=day)


def test_points_sit_in_time_order_inside_the_plot_with_round_value_ticks() -> None:
    chart = layout([point("2025-01-15", 5.3), point("2025-02-26", 5.27)], "mmol/L", set())
    first, second = chart.points
    assert chart.left < first.x < second.x < chart.right
    assert chart.top <= first.y <= chart.bottom
    labels = [label for _, label in chart.y_ticks]
    assert labels == ["3", "4", "5", "6", "7"]  # French decimals, round steps
    assert [y for y, _ in chart.y_ticks] == sorted((y for y, _ in chart.y_ticks), reverse=True)
    assert chart.x_ticks and all(chart.left <= x <= chart.right for x, _ in chart.x_ticks)


def test_one_band_for_one_range_a_step_band_when_the_labs_differ() -> None:
    same = layout([point("2025-01-01", 5), point("2025-03-01", 5.5)], "mmol/L", set())
    assert len(same.bands) == 1
    x, _, width, _ = same.bands[0]
    assert (x, round(x + width)) == (same.left, same.right)
    other = layout([point("2025-01-01", 2, 0.27, 4.2), point("2025-03-01", 2, 0.4, 4)], "", set())
    assert len(other.bands) == 2


def test_one_sided_ranges_reach_the_edge_and_no_range_draws_no_band() -> None:
    chart = layout(
        [point("2025-01-01", 3, None, 5), point("2025-02-01", 4, None, 5)], "mg/L", set()
    )
    [(_, top, _, height)] = chart.bands
    assert round(top + height, 1) == chart.bottom
    assert layout([point("2025-01-01", 3, None, None)], "mg/L", set()).bands == []


def test_segments_between_incomparable_results_are_dashed_and_months_label_long_series() -> None:
    points = [point(f"2025-{m:02d}-10", 5 + m / 10) for m in range(1, 10)]
    chart = layout(points, "mmol/L", {(2, 3)})
    assert [dashed for *_, dashed in chart.segments] == [i == 2 for i in range(8)]
    assert chart.has_incomparable
    assert any("2025" in label for _, label in chart.x_ticks)


def test_small_values_get_the_decimals_their_ticks_need() -> None:
    points = [point("2025-01-01", 0.95, 0.63, 1.1), point("2025-02-01", 0.954, 0.63, 1.1)]
    labels = [label for _, label in layout(points, "g/L", set()).y_ticks]
    assert labels == ["0,4", "0,6", "0,8", "1,0", "1,2"]


def test_a_bound_points_toward_its_values_and_short_spans_say_the_year_once() -> None:
    below = ChartPoint(datetime(2025, 12, 20), 1.0, None, 5, False, False, "< 1", "<")
    above = ChartPoint(datetime(2026, 1, 20), 500, None, 5, False, False, "> 500", ">=")
    chart = layout([below, point("2026-01-05", 3), above], "mg/L", set())
    assert [p.point.censored for p in chart.points] == ["below", None, "above"]
    assert chart.has_censored and chart.has_measured
    assert not layout([below], "mg/L", set()).has_measured  # no plain dot to explain
    labels = [label for _, label in chart.x_ticks]
    assert labels[0].endswith("/2025") and sum(label.endswith("/2026") for label in labels) == 1
    assert all(len(label) == 5 for label in labels if not label.endswith(("/2025", "/2026")))
