"""The pure half of the store: FHIR dates as ranges, canonical quantities, index rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bridge.store.indexing import (
    MAX_TIME,
    MIN_TIME,
    canonical_quantity,
    date_range,
    index_rows,
)
from bridge.store.records import instant
from tests.store.resources import observation, patient

DAY = 86_400_000_000
SECOND = 1_000_000


def micros(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2024", "2024-01-01", "2025-01-01"),
        ("2024-02", "2024-02-01", "2024-03-01"),  # leap year: 29 days
        ("2023-02", "2023-02-01", "2023-03-01"),  # 28 days
        ("2000-02", "2000-02-01", "2000-03-01"),  # divisible by 400: leap
        ("2100-02", "2100-02-01", "2100-03-01"),  # divisible by 100 only: not leap
        ("2024-04", "2024-04-01", "2024-05-01"),  # 30 days
        ("2024-12", "2024-12-01", "2025-01-01"),  # across the year end
        ("2024-02-29", "2024-02-29", "2024-03-01"),
        ("2024-12-31", "2024-12-31", "2025-01-01"),
        ("2024-11-10T07:35Z", "2024-11-10T07:35:00Z", "2024-11-10T07:36:00Z"),
        ("2024-11-10T07:35:00Z", "2024-11-10T07:35:00Z", "2024-11-10T07:35:01Z"),
        ("2024-11-10T07:35:00+01:00", "2024-11-10T06:35:00Z", "2024-11-10T06:35:01Z"),
        ("2024-11-10T23:30:00-02:00", "2024-11-11T01:30:00Z", "2024-11-11T01:30:01Z"),
        ("2024-11-10T07:35:00+05:30", "2024-11-10T02:05:00Z", "2024-11-10T02:05:01Z"),
        ("2024-11-10T07:35:00", "2024-11-10T07:35:00Z", "2024-11-10T07:35:01Z"),  # no zone: UTC
        ("2024-11-10T07:35:00.5Z", "2024-11-10T07:35:00.500Z", "2024-11-10T07:35:00.600Z"),
        ("2024-11-10T07:35:00.25Z", "2024-11-10T07:35:00.250Z", "2024-11-10T07:35:00.260Z"),
        (
            "2024-11-10T07:35:00.123456Z",
            "2024-11-10T07:35:00.123456Z",
            "2024-11-10T07:35:00.123457Z",
        ),
        ("2024-11-10T07:35:59.999999+01:00", "2024-11-10T06:35:59.999999Z", "2024-11-10T06:36:00Z"),
        (" 2024-11-10 ", "2024-11-10", "2024-11-11"),
        ("1969-12-31", "1969-12-31", "1970-01-01"),  # before the epoch: negative
        ("9999-12-31", "9999-12-31", None),  # the "end of time" sentinel some systems send
        ("9999", "9999-01-01", None),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", None),
    ],
)
def test_date_range(value: str, start: str, end: str | None) -> None:
    low, high = date_range(value)  # type: ignore[misc]
    assert low == micros(start)
    if end is not None:
        assert high == micros(end)
    assert high > low


def test_date_range_widths() -> None:
    def width(value: str) -> int:
        low, high = date_range(value)  # type: ignore[misc]
        return high - low

    assert width("2024") == 366 * DAY
    assert width("2023") == 365 * DAY
    assert width("9999") == 365 * DAY
    assert width("9999-12") == 31 * DAY
    assert width("9999-12-31") == DAY
    assert width("2024-11-10T07:35:00.1234567Z") == 1  # finer than a microsecond: truncated
    assert date_range("2024-11-10T07:35:00.1234567Z")[0] == micros("2024-11-10T07:35:00.123456Z")


def test_the_last_second_of_a_day_meets_the_next_day() -> None:
    assert date_range("2024-02-28T23:59:59Z")[1] == date_range("2024-02-29")[0]  # type: ignore
    assert date_range("2024-02")[1] == date_range("2024-03-01")[0]  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "24",
        "2024-1",
        "2024-1-05",
        "2024-13",
        "2024-00",
        "2023-02-29",
        "2024-04-31",
        "2024-11-10T24:00:00Z",
        "2024-11-10T07:60:00Z",
        "2024-11-10T07:35:60Z",
        "2024-11-10T07Z",
        "2024-11-10 07:35:00",
        "2024-11-10T07:35:00+1:00",
        "yesterday",
        "2024-11-10T07:35:00.Z",
        "2024-11-10T07:35:00+25:00",
        "2024-11-10T07:35:00+01:99",
        "0000",
    ],
)
def test_not_a_date(value: str) -> None:
    assert date_range(value) is None


def test_instant_reads_back_as_the_same_microsecond() -> None:
    for value in (0, 1_731_224_100_123_456, -1, micros("2000-02-29T12:00:00Z")):
        assert date_range(instant(value)) == (value, value + 1)


def test_canonical_quantity_compares_mass_concentrations() -> None:
    assert canonical_quantity(Decimal("13.2"), "g/dL") == canonical_quantity(132, "g/L")
    assert canonical_quantity(Decimal("95"), "mg/dL") == canonical_quantity(Decimal("0.95"), "g/L")
    unit, value = canonical_quantity(Decimal("5.30"), "mmol/L")
    assert unit is not None and value == pytest.approx(5.3)
    assert unit != canonical_quantity(1, "g/L")[0]  # moles are not grams
    assert canonical_quantity(Decimal("4.5"), "10*12/L")[0] == canonical_quantity(1, "/uL")[0]


@pytest.mark.parametrize("code", [None, "not-a-unit", "{beats}/min/banana"])
def test_canonical_quantity_of_an_unknown_unit(code: str | None) -> None:
    assert canonical_quantity(Decimal(1), code) == (None, None)


def test_index_rows_of_an_observation() -> None:
    resource = observation(
        "o1",
        code="55454-3",
        patient="p1",
        value="13.2",
        unit="g/dL",
        components=(("718-7", "132", "g/L"),),
        text="Hémoglobine",
        period={"start": "2024-11-10T08:00:00Z"},
    )
    resource["hasMember"] = [{"reference": "Observation/o2"}, {"reference": "#contained"}]
    resource["specimen"] = {"reference": "urn:uuid:not-stored-like-this"}
    rows = index_rows(resource)
    assert ("code", "http://loinc.org", "55454-3") in rows.tokens
    assert {code for name, _, code in rows.tokens if name == "combo-code"} == {"55454-3", "718-7"}
    assert {code for name, _, code in rows.tokens if name == "component-code"} == {"718-7"}
    assert ("status", None, "final") in rows.tokens
    assert sorted(rows.references) == [
        ("has-member", "Observation/o2"),
        ("patient", "Patient/p1"),
        ("subject", "Patient/p1"),
    ]
    assert rows.dates == [("date", micros("2024-11-10T08:00:00Z"), MAX_TIME)]
    assert rows.sort_date == (micros("2024-11-10T08:00:00Z"), MAX_TIME)
    quantities = {(name, code): canonical for name, _, code, _, _, canonical in rows.quantities}
    assert quantities[("value-quantity", "g/dL")] == 132.0
    assert quantities[("combo-value-quantity", "g/L")] == 132.0
    assert ("code:text", "hemoglobine") in rows.strings


def test_index_rows_of_a_period_without_start_and_a_group_subject() -> None:
    resource = {
        **observation("o1", period={"end": "2024-11-10"}),
        "subject": {"reference": "Group/g1"},
    }
    rows = index_rows(resource)
    assert rows.dates == [("date", MIN_TIME, micros("2024-11-11"))]
    assert rows.references == [("subject", "Group/g1")]  # patient only points at Patients


def test_index_rows_of_a_patient() -> None:
    resource = patient("p1", "Lefèvre", "Élodie", "Marie-Hélène", ins="2800299123456")
    resource["birthDate"] = "1980-02-14"
    rows = index_rows(resource)
    assert ("identifier", "urn:oid:1.2.250.1.213.1.4.8", "2800299123456") in rows.tokens
    assert set(rows.strings) == {
        ("name", "lefevre"),
        ("name", "elodie"),
        ("name", "marie-helene"),
        ("family", "lefevre"),
        ("given", "elodie"),
        ("given", "marie-helene"),
        # as written, for :exact
        ("name:exact", "Lefèvre"),
        ("name:exact", "Élodie"),
        ("name:exact", "Marie-Hélène"),
        ("family:exact", "Lefèvre"),
        ("given:exact", "Élodie"),
        ("given:exact", "Marie-Hélène"),
    }
    assert rows.sort_date == date_range("1980-02-14")


def test_index_rows_of_an_unknown_type_are_empty() -> None:
    rows = index_rows({"resourceType": "Basic", "id": "b1", "code": {"text": "x"}})
    assert (rows.tokens, rows.references, rows.dates, rows.strings) == ([], [], [], [])
    assert rows.sort_date is None


def test_every_indexed_parameter_has_its_own_code() -> None:
    """Index rows carry `param_code(type, name)`: two pairs with one code would mix rows."""
    from bridge.store.indexing import SEARCH_PARAMETERS, indexed_names, param_code

    pairs = [(kind, name) for kind in SEARCH_PARAMETERS for name in indexed_names(kind)]
    assert len({param_code(*pair) for pair in pairs}) == len(pairs)
