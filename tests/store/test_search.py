"""Search: tokens, references, strings, _id, sorting, counting, _include, and the hot path
(Observation?patient&code&date&_sort=-date) agreeing with the general path."""

from __future__ import annotations

import pytest

from bridge.store import InvalidSearch, Store, parse_query
from bridge.store.querying import _hot_path
from tests.store.resources import (
    GLUCOSE,
    INS,
    LOINC,
    observation,
    ordered_ids,
    patient,
    report,
    search_ids,
)

OTHER_SYSTEM = "urn:oid:1.2.250.1.213.1.1.5.1"


@pytest.fixture
def results(store: Store) -> Store:
    """Two patients' results; dates increase with the number in the id."""
    for resource in [
        patient("p1", "Lefèvre", "Élodie", ins="2800299123456"),
        patient("p2", "LEFEBVRE", "Hélène", ins="1680569383214"),
        patient("p3", "Dupont-Lefèvre", "Anne"),
        observation("o1", patient="p1", date="2024-11-01", text="Hémoglobine"),
        observation(
            "o2",
            patient="p1",
            date="2024-11-02",
            code=GLUCOSE,
            status="amended",
            components=(("53049-3", "0.95", "g/L"),),
        ),
        observation("o3", patient="p1", date="2024-11-03"),
        observation("o4", patient="p2", date="2024-11-04"),
        observation("o5", patient="p1", date="2024-11-05", code="X1", system=OTHER_SYSTEM),
        observation("o6", patient="p1", date="2024-11-06", code="718-7", system=None),
        observation("o7", patient=None, date="2024-11-07"),
        {**observation("o8", date="2024-11-08"), "subject": {"reference": "Group/p1"}},
        report("r1", "o1", "o2", patient="p1"),
        report("r2", "o4", patient="p2"),
    ]:
        store.put(resource)
    return store


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("code", f"{LOINC}|718-7")], {"o1", "o3", "o4", "o7", "o8"}),
        ([("code", "718-7")], {"o1", "o3", "o4", "o6", "o7", "o8"}),
        ([("code", "|718-7")], {"o6"}),  # no system
        ([("code", f"{LOINC}|")], {"o1", "o2", "o3", "o4", "o7", "o8"}),
        ([("code", f"{OTHER_SYSTEM}|X1")], {"o5"}),
        ([("code", f"{OTHER_SYSTEM}|718-7")], set()),
        ([("code", f"{LOINC}|{GLUCOSE},{OTHER_SYSTEM}|X1")], {"o2", "o5"}),
        ([("code", "718-7"), ("code", f"{LOINC}|718-7")], {"o1", "o3", "o4", "o7", "o8"}),
        ([("code:not", "718-7")], {"o2", "o5"}),
        ([("code:not", f"718-7,{GLUCOSE}")], {"o5"}),  # not (a or b)
        ([("code:text", "hemoglob")], {"o1"}),  # accents and case ignored
        ([("code:text", "HÉMOGLOBINE")], {"o1"}),
        ([("combo-code", "53049-3")], {"o2"}),  # a component's code
        ([("combo-code", GLUCOSE)], {"o2"}),
        ([("component-code", GLUCOSE)], set()),
        ([("category", "laboratory")], {f"o{i}" for i in range(1, 9)}),
        (
            [("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")],
            {f"o{i}" for i in range(1, 9)},
        ),
        ([("status", "amended")], {"o2"}),
        ([("status", "final,amended"), ("code", GLUCOSE)], {"o2"}),
        ([("status:not", "final")], {"o2"}),
        ([("patient", "Patient/p1")], {"o1", "o2", "o3", "o5", "o6"}),
        ([("patient", "p1")], {"o1", "o2", "o3", "o5", "o6"}),
        ([("patient", "http://example.org/fhir/Patient/p1")], {"o1", "o2", "o3", "o5", "o6"}),
        ([("subject", "Patient/p1")], {"o1", "o2", "o3", "o5", "o6"}),
        ([("subject", "p1")], {"o1", "o2", "o3", "o5", "o6", "o8"}),  # a bare id: any type
        ([("subject", "Group/p1")], {"o8"}),
        ([("subject:Group", "p1")], {"o8"}),
        ([("subject:Patient", "p1")], {"o1", "o2", "o3", "o5", "o6"}),
        ([("patient", "p1,p2")], {"o1", "o2", "o3", "o4", "o5", "o6"}),
        ([("patient", "p1"), ("patient", "p2")], set()),
        ([("_id", "o3")], {"o3"}),
        ([("_id", "o3,o4,nothing")], {"o3", "o4"}),
        ([("_id", "o3"), ("patient", "p2")], set()),
    ],
)
def test_observation_search(
    results: Store, params: list[tuple[str, str]], expected: set[str]
) -> None:
    assert search_ids(results, "Observation", *params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("name", "lefevre")], {"p1"}),
        ([("name", "Lefèvre")], {"p1"}),
        ([("name", "LEF")], {"p1", "p2"}),  # starts with
        ([("name", "elodie")], {"p1"}),
        ([("name", "helene")], {"p2"}),
        ([("family", "lefebvre")], {"p2"}),
        ([("family", "anne")], set()),
        ([("given", "anne")], {"p3"}),
        ([("name:contains", "lefevre")], {"p1", "p3"}),
        ([("name:contains", "EVR")], {"p1", "p3"}),
        ([("name:exact", "Lefèvre")], {"p1"}),
        ([("name:exact", "lefèvre")], set()),  # :exact minds case and accents
        ([("name:exact", "Lefevre")], set()),
        ([("name:exact", "Lefe")], set()),
        ([("family:exact", "LEFEBVRE,Lefèvre")], {"p1", "p2"}),
        ([("name:contains", "%")], set()),  # LIKE wildcards are plain characters here
        ([("name:contains", "_")], set()),
        ([("name", "l_f")], set()),
        ([("identifier", f"{INS}|2800299123456")], {"p1"}),
        ([("identifier", "2800299123456")], {"p1"}),
        ([("identifier", f"{INS}|")], {"p1", "p2"}),
        ([("identifier", f"{OTHER_SYSTEM}|2800299123456")], set()),
        ([("_id", "p2")], {"p2"}),
    ],
)
def test_patient_search(results: Store, params: list[tuple[str, str]], expected: set[str]) -> None:
    assert search_ids(results, "Patient", *params) == expected


def test_sort_by_date(results: Store) -> None:
    assert ordered_ids(results, "Observation", ("patient", "p1"), ("_sort", "-date")) == [
        "o6",
        "o5",
        "o3",
        "o2",
        "o1",
    ]
    assert ordered_ids(results, "Observation", ("patient", "p1"), ("_sort", "date")) == [
        "o1",
        "o2",
        "o3",
        "o5",
        "o6",
    ]
    results.put(observation("o0", patient="p1"))  # no date: first going up, last going down
    assert ordered_ids(results, "Observation", ("patient", "p1"), ("_sort", "date"))[0] == "o0"
    assert ordered_ids(results, "Observation", ("patient", "p1"), ("_sort", "-date"))[-1] == "o0"


def test_sort_by_id_and_last_updated(results: Store) -> None:
    everything = ordered_ids(results, "Observation")
    assert everything == [f"o{i}" for i in range(1, 9)]  # insertion order by default
    assert ordered_ids(results, "Observation", ("_sort", "-_id")) == sorted(
        everything, reverse=True
    )
    results.put(observation("o1", patient="p1", date="2024-11-01", status="corrected"))
    assert ordered_ids(results, "Observation", ("_sort", "_lastUpdated"))[-1] == "o1"
    assert ordered_ids(results, "Observation", ("_sort", "-_lastUpdated"))[0] == "o1"
    assert ordered_ids(results, "Observation", ("_sort", "_id")) == sorted(everything)


def test_count_and_total(results: Store) -> None:
    page = results.search(parse_query("Observation", [("patient", "p1"), ("_count", "2")]))
    assert len(page.matches) == 2
    assert page.total is None
    assert page.next_cursor is not None
    page = results.search(
        parse_query("Observation", [("patient", "p1"), ("_count", "2"), ("_total", "accurate")])
    )
    assert (len(page.matches), page.total) == (2, 5)
    page = results.search(parse_query("Observation", [("patient", "p1"), ("_summary", "count")]))
    assert (page.matches, page.total, page.next_cursor) == ([], 5, None)
    page = results.search(parse_query("Observation", [("_count", "0"), ("_total", "accurate")]))
    assert (page.matches, page.total, page.next_cursor) == ([], 8, None)


def test_include(results: Store) -> None:
    page = results.search(
        parse_query(
            "DiagnosticReport",
            [
                ("_id", "r1"),
                ("_include", "DiagnosticReport:result"),
                ("_include", "DiagnosticReport:patient"),
            ],
        )
    )
    assert [m.id for m in page.matches] == ["r1"]
    assert {(s.resource_type, s.id) for s in page.included} == {
        ("Observation", "o1"),
        ("Observation", "o2"),
        ("Patient", "p1"),
    }
    page = results.search(
        parse_query("Observation", [("patient", "p2"), ("_include", "Observation:patient")])
    )
    assert {(s.resource_type, s.id) for s in page.included} == {("Patient", "p2")}
    page = results.search(
        parse_query("DiagnosticReport", [("_include", "DiagnosticReport:result:Patient")])
    )
    assert page.included == []  # results are Observations, not Patients
    results.delete("Observation", "o2")
    page = results.search(
        parse_query("DiagnosticReport", [("_id", "r1"), ("_include", "DiagnosticReport:result")])
    )
    assert {s.id for s in page.included} == {"o1"}  # a deleted target is not included


def test_include_gives_each_resource_once(results: Store) -> None:
    results.put(
        {
            **observation("panel", patient="p1", date="2024-11-01"),
            "hasMember": [{"reference": "Observation/o1"}, {"reference": "Observation/o3"}],
        }
    )
    page = results.search(
        parse_query("Observation", [("_id", "panel,o1"), ("_include", "Observation:has-member")])
    )
    assert {m.id for m in page.matches} == {"panel", "o1"}
    assert [s.id for s in page.included] == ["o3"]  # o1 is already a match


def test_counting_on_the_hot_path(results: Store) -> None:
    """An Observation with the code twice (two systems) is counted once."""
    results.put(
        {
            **observation("o10", patient="p1", date="2024-11-10"),
            "code": {
                "coding": [
                    {"system": LOINC, "code": "718-7"},
                    {"system": OTHER_SYSTEM, "code": "718-7"},
                ]
            },
        }
    )
    params = [("patient", "p1"), ("code", "718-7")]
    page = results.search(parse_query("Observation", [*params, ("_summary", "count")]))
    assert page.total == 4  # o1, o3, o6, o10
    page = results.search(parse_query("Observation", [*params, ("_total", "accurate")]))
    assert page.total == len(page.matches) == 4


def test_count_is_capped() -> None:
    assert parse_query("Observation", [("_count", "5000")]).count == 1000


def _hot_and_general(store: Store, *params: tuple[str, str]) -> tuple[list[str], list[str]]:
    """The hot path's answer, and the same question asked so that it cannot take it
    (a second code that matches nothing)."""
    general = [
        (name, f"{value},{LOINC}|no-such-code" if name == "code" else value)
        for name, value in params
    ]
    assert _hot_path(parse_query("Observation", general)) is None
    return ordered_ids(store, "Observation", *params), ordered_ids(store, "Observation", *general)


@pytest.mark.parametrize(
    "params",
    [
        [
            ("patient", "p1"),
            ("code", f"{LOINC}|718-7"),
            ("date", "ge2024-11-02"),
            ("_sort", "-date"),
        ],
        [("patient", "Patient/p1"), ("code", "718-7"), ("_sort", "-date")],
        [("patient", "p1"), ("code", "|718-7")],
        [
            ("patient", "p1"),
            ("code", f"{LOINC}|718-7"),
            ("date", "lt2024-11-03"),
            ("_sort", "date"),
        ],
        [("subject", "Patient/p1"), ("code", f"{LOINC}|718-7"), ("date", "2024-11")],
        [("patient", "p1"), ("code", f"{LOINC}|718-7"), ("status", "final"), ("_sort", "-date")],
        [
            ("patient", "p2"),
            ("code", f"{LOINC}|718-7"),
            ("date", "ge2024-11-02"),
            ("date", "le2024-11-30"),
            ("_sort", "-date"),
        ],
        [("patient", "p1"), ("code", f"{LOINC}|718-7"), ("date", "2024-11-01,2024-11-03")],
        [("patient", "p1"), ("code", f"{LOINC}|718-7"), ("_sort", "-_lastUpdated")],
    ],
)
def test_the_hot_path_agrees_with_the_general_path(
    results: Store, params: list[tuple[str, str]]
) -> None:
    results.put(
        observation("o9", patient="p1", date="2024-11-09", components=(("718-7", "1", "g/L"),))
    )
    results.put(
        {
            **observation("o10", patient="p1", date="2024-11-10"),
            "code": {
                "coding": [
                    {"system": LOINC, "code": "718-7"},
                    {"system": OTHER_SYSTEM, "code": "718-7"},
                ]
            },
        }
    )
    assert _hot_path(parse_query("Observation", params)) is not None
    hot, general = _hot_and_general(results, *params)
    assert hot == general
    assert len(set(hot)) == len(hot)


def test_a_group_subject_does_not_take_the_hot_path(results: Store) -> None:
    """The hot table knows patients only: subject=Group/… must go the general way."""
    params = [("subject", "Group/p1"), ("code", f"{LOINC}|718-7")]
    assert _hot_path(parse_query("Observation", params)) is None
    assert ordered_ids(results, "Observation", *params) == ["o8"]


def test_the_hot_path_answer(results: Store) -> None:
    hot = ordered_ids(
        results,
        "Observation",
        ("patient", "p1"),
        ("code", f"{LOINC}|718-7"),
        ("date", "ge2024-11-02"),
        ("_sort", "-date"),
    )
    assert hot == ["o3"]
    results.put(observation("o3", patient="p2", date="2024-11-03"))  # moved to p2
    assert (
        ordered_ids(
            results,
            "Observation",
            ("patient", "p1"),
            ("code", f"{LOINC}|718-7"),
            ("date", "ge2024-11-02"),
        )
        == []
    )
    results.delete("Observation", "o1")
    assert ordered_ids(results, "Observation", ("patient", "p1"), ("code", "718-7")) == ["o6"]


@pytest.mark.parametrize(
    "params",
    [
        [("date", "2024-13-01")],
        [("value-quantity", "ten")],
        [("_count", "abc")],
        [("_count", "-1")],
        [("_sort", "status")],
        [("_sort", "-")],
        [("_include", "DiagnosticReport")],
        [("_include", "Observation:code")],  # not a reference parameter
        [("_include", "Observation:nothing")],
        [("_summary", "everything")],
        [("code", "")],
        [("code:below", "718-7")],  # a modifier this server does not support
        [("date:missing", "true")],
        [("patient:Foo", "p1"), ("code", "718-7")],
    ],
)
def test_invalid_searches(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidSearch):
        parse_query("Observation", params)


def test_binary_has_no_date_to_sort_by() -> None:
    with pytest.raises(InvalidSearch):
        parse_query("Binary", [("_sort", "date")])


def test_unknown_parameters_are_reported(results: Store) -> None:
    query = parse_query(
        "Observation",
        [
            ("patient", "p2"),
            ("foo", "bar"),
            ("_has", "x"),
            ("_elements", "id"),
            ("name:exact", "x"),
        ],
    )
    assert query.unknown == ["foo", "_has", "name:exact"]
    assert ("patient", "p2") in query.understood
    assert ("foo", "bar") not in query.understood
    assert {m.id for m in results.search(query).matches} == {"o4"}


def test_search_on_a_type_without_parameters(results: Store) -> None:
    assert search_ids(results, "Binary") == set()
    results.put({"resourceType": "Binary", "id": "b1", "contentType": "text/plain", "data": "eA=="})
    assert search_ids(results, "Binary") == {"b1"}
    assert search_ids(results, "Binary", ("_id", "b1")) == {"b1"}
