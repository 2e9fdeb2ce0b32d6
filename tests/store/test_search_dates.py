"""Date search: every prefix against half-open ranges, partial dates and time zones.

Each Observation below stands for a range of time; the expected matches were worked
out by hand from the FHIR rules (search value [s, e), resource value [lo, hi)):
eq lo ≥ s and hi ≤ e; ne not eq; gt hi > e; lt lo < s; ge gt or eq; le lt or eq;
sa lo ≥ e; eb hi ≤ s.
"""

from __future__ import annotations

import pytest

from bridge.store import InvalidSearch, Store, parse_query
from tests.store.resources import observation, search_ids

OBSERVATIONS = [
    observation("day", date="2024-11-10"),  # [Nov 10, Nov 11)
    observation("morning", date="2024-11-10T08:30:00+01:00"),  # [07:30:00Z, 07:30:01Z) Nov 10
    observation("late", date="2024-11-10T23:30:00-02:00"),  # 01:30Z on Nov 11
    observation(
        "span", period={"start": "2024-11-09T22:00:00Z", "end": "2024-11-10T02:00:00Z"}
    ),  # [Nov 9 22:00, Nov 10 02:00:01)
    observation("month", date="2024-10"),  # [Oct 1, Nov 1)
    observation("open", period={"start": "2024-11-12"}),  # [Nov 12, the end of time)
    observation("old", date="2023"),  # [2023, 2024)
    observation("undated"),
]


@pytest.fixture
def dated(store: Store) -> Store:
    for resource in OBSERVATIONS:
        store.put(resource)
    return store


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-11-10", {"day", "morning"}),
        ("eq2024-11-10", {"day", "morning"}),
        ("2024-11-11", {"late"}),
        ("eq2024-11", {"day", "morning", "late", "span"}),
        ("2024", {"day", "morning", "late", "span", "month"}),
        ("ne2024-11-10", {"late", "span", "month", "open", "old"}),
        ("gt2024-11-10", {"late", "open"}),
        ("lt2024-11-10", {"span", "month", "old"}),
        ("ge2024-11-10", {"day", "morning", "late", "open"}),
        ("le2024-11-10", {"day", "morning", "span", "month", "old"}),
        ("sa2024-11-10", {"late", "open"}),
        ("eb2024-11-10", {"month", "old"}),
        ("sa2024-11-11", {"open"}),
        ("ge2024-11-12", {"open"}),
        ("gt2999", {"open"}),
        ("lt2024-01-01", {"old"}),
        ("eb2024", {"old"}),
        ("sa2023", {"day", "morning", "late", "span", "month", "open"}),
        ("ne2024", {"open", "old"}),
        ("2024-11-10T07:30:00Z", {"morning"}),
        ("2024-11-10T08:30:00+01:00", {"morning"}),
        ("2024-11-10T07:30Z", {"morning"}),  # the whole minute
        ("2024-11-10T02:30:00-05:00", {"morning"}),
        ("2024-11-10T07:30:00.5Z", set()),  # a tenth of a second inside a whole second
        ("gt2024-11-10T07:30:00.5Z", {"day", "morning", "late", "open"}),
        ("lt2024-11-10T07:30:00Z", {"day", "span", "month", "old"}),
        ("sa2024-11-10T07:30:00Z", {"late", "open"}),
        ("eb2024-11-10T07:30:01Z", {"morning", "span", "month", "old"}),  # ends where it starts
        ("2023,2024-10", {"old", "month"}),  # a comma is OR
    ],
)
def test_date_prefixes(dated: Store, value: str, expected: set[str]) -> None:
    assert search_ids(dated, "Observation", ("date", value)) == expected


def test_repeated_date_parameters_are_and(dated: Store) -> None:
    assert search_ids(dated, "Observation", ("date", "ge2024-11-01"), ("date", "lt2024-11-11")) == {
        "day",
        "morning",
        "span",
    }


def test_the_hot_path_reads_dates_the_same_way(dated: Store) -> None:
    """patient + code takes the hot path; its date condition must match the general one."""
    for value in (
        "2024-11-10",
        "ne2024-11-10",
        "gt2024-11-10",
        "lt2024-11-10",
        "ge2024-11-10",
        "le2024-11-10",
        "sa2024-11-10",
        "eb2024-11-10",
        "2024",
    ):
        hot = search_ids(
            dated, "Observation", ("patient", "p1"), ("code", "718-7"), ("date", value)
        )
        general = search_ids(dated, "Observation", ("date", value))
        assert hot == general, value


def test_last_updated(store: Store) -> None:
    stamps = {}
    for name in ("a", "b", "c", "d"):
        stamps[name] = store.put(observation(name)).stored.last_updated
    from bridge.store.records import instant

    middle = instant(stamps["b"])
    assert search_ids(store, "Observation", ("_lastUpdated", middle)) == {
        n for n, t in stamps.items() if t == stamps["b"]
    }
    assert search_ids(store, "Observation", ("_lastUpdated", f"ge{middle}")) == {
        n for n, t in stamps.items() if t >= stamps["b"]
    }
    assert search_ids(store, "Observation", ("_lastUpdated", f"gt{middle}")) == {
        n for n, t in stamps.items() if t > stamps["b"]
    }
    assert search_ids(store, "Observation", ("_lastUpdated", f"lt{middle}")) == {
        n for n, t in stamps.items() if t < stamps["b"]
    }
    assert search_ids(store, "Observation", ("_lastUpdated", "gt2020")) == set(stamps)
    assert search_ids(store, "Observation", ("_lastUpdated", "lt2020")) == set()


def test_an_unencoded_plus_of_an_offset_is_read_as_plus() -> None:
    """ "+01:00" sent unencoded in a URL arrives as " 01:00": read as the offset it was."""
    (condition,) = parse_query("Observation", [("date", "2024-11-10T07:35:00 01:00")]).conditions
    (expected,) = parse_query("Observation", [("date", "2024-11-10T07:35:00+01:00")]).conditions
    assert condition.values == expected.values


@pytest.mark.parametrize(
    "value",
    ["2024-13", "yesterday", "ge", "gt2024-11-10T25:00Z", "2024-11-10 07:35:00", "2024,"],
)
def test_a_bad_date_is_refused(value: str) -> None:
    with pytest.raises(InvalidSearch):
        parse_query("Observation", [("date", value)])
    with pytest.raises(InvalidSearch):
        parse_query("Observation", [("_lastUpdated", value)])


def test_the_end_of_time_can_be_searched(dated: Store) -> None:
    dated.put(observation("sentinel", date="9999-12-31"))
    assert search_ids(dated, "Observation", ("date", "9999-12-31")) == {"sentinel"}
    assert search_ids(dated, "Observation", ("date", "gt9000")) == {"open", "sentinel"}
