"""Quantity search: prefixes, the precision of the value searched, and units compared through
canonical UCUM (13.2 g/dL is 132 g/L; mmol/L is another dimension)."""

from __future__ import annotations

import pytest

from bridge.store import InvalidSearch, Store, parse_query
from tests.store.resources import GLUCOSE, observation, search_ids

OBSERVATIONS = [
    observation("hb-gdl", value="13.2", unit="g/dL"),
    observation("hb-gl", value="132", unit="g/L"),
    observation("hb-low", value="95", unit="g/L"),
    observation("glu-mmol", code=GLUCOSE, value="5.30", unit="mmol/L"),
    observation("glu-gl", code="53049-3", value="0.95", unit="g/L"),
    observation("no-unit", value="132"),
    observation("odd-unit", value="132", unit="not-ucum"),
    observation("ratio", value="0.5", unit="{ratio}"),  # an annotation alone: UCUM's unity
    observation(
        "two-units",
        code=GLUCOSE,
        value="5.30",
        unit="mmol/L",
        components=(("53049-3", "0.95", "g/L"),),
    ),
]


@pytest.fixture
def measured(store: Store) -> Store:
    for resource in OBSERVATIONS:
        store.put(resource)
    return store


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("132||g/L", {"hb-gdl", "hb-gl"}),
        ("13.2||g/dL", {"hb-gdl", "hb-gl"}),
        ("132|http://unitsofmeasure.org|g/L", {"hb-gdl", "hb-gl"}),
        ("eq132||g/L", {"hb-gdl", "hb-gl"}),
        ("131.6||g/L", set()),  # 131.6 stands for [131.55, 131.65)
        ("132", {"hb-gl", "no-unit", "odd-unit"}),  # no unit: the number, in any unit
        ("gt100||g/L", {"hb-gdl", "hb-gl"}),
        ("lt100||g/L", {"hb-low", "glu-gl"}),
        ("ge132||g/L", {"hb-gdl", "hb-gl"}),
        ("le132||g/L", {"hb-gdl", "hb-gl", "hb-low", "glu-gl"}),
        ("gt13.2||g/dL", set()),
        ("ne132||g/L", {"hb-low", "glu-gl"}),
        ("sa100||g/L", {"hb-gdl", "hb-gl"}),
        ("eb1||g/L", {"glu-gl"}),
        ("0.95||g/L", {"glu-gl"}),
        ("95||mg/dL", {"glu-gl"}),
        ("5.3||mmol/L", {"glu-mmol", "two-units"}),
        ("5.30||mmol/L", {"glu-mmol", "two-units"}),
        ("5.31||mmol/L", set()),
        ("5||mmol/L", {"glu-mmol", "two-units"}),  # 5 stands for [4.5, 5.5)
        ("5.3||g/L", set()),  # mmol/L is not comparable with g/L
        ("0.5||{ratio}", {"ratio"}),
        ("50||%", {"ratio"}),  # 0.5 (unity) is 50 %
        ("5300||umol/L", {"glu-mmol", "two-units"}),
        ("132||not-ucum", {"odd-unit"}),  # an unknown unit is compared by its code
        ("132||g/L,5.3||mmol/L", {"hb-gdl", "hb-gl", "glu-mmol", "two-units"}),
    ],
)
def test_value_quantity(measured: Store, value: str, expected: set[str]) -> None:
    assert search_ids(measured, "Observation", ("value-quantity", value)) == expected


def test_combo_value_quantity_reads_components(measured: Store) -> None:
    assert search_ids(measured, "Observation", ("combo-value-quantity", "0.95||g/L")) == {
        "glu-gl",
        "two-units",
    }
    assert search_ids(measured, "Observation", ("value-quantity", "0.95||g/L")) == {"glu-gl"}


def test_quantity_with_other_conditions(measured: Store) -> None:
    assert search_ids(
        measured, "Observation", ("code", "718-7"), ("value-quantity", "ge100||g/L")
    ) == {"hb-gdl", "hb-gl"}
    assert search_ids(
        measured,
        "Observation",
        ("value-quantity", "gt100||g/L"),
        ("value-quantity", "lt132.4||g/L"),
    ) == {"hb-gdl", "hb-gl"}


@pytest.mark.parametrize(
    "value", ["abc", "ge", "NaN", "Infinity", "ge-inf||g/L", "5..3", "5,", "||g/L"]
)
def test_a_bad_number_is_refused(value: str) -> None:
    with pytest.raises(InvalidSearch):
        parse_query("Observation", [("value-quantity", value)])
