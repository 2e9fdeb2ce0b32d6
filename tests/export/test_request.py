"""Kick-off parameters (Bulk Data v2) → the export asked for, or a clear refusal."""

from __future__ import annotations

import pytest

from bridge.export.compartment import PATIENT_LEVEL_TYPES
from bridge.export.errors import InvalidExportRequest, UnsupportedExportParameter
from bridge.export.request import MAX_TYPE_FILTERS, ExportRequest, parameter_pairs, parse_kickoff
from bridge.store.indexing import SEARCH_PARAMETERS, date_range
from bridge.store.search import InvalidSearch


def test_without_type_every_type_of_the_level() -> None:
    assert parse_kickoff("system", [], lenient=False).types == tuple(sorted(SEARCH_PARAMETERS))
    patient = parse_kickoff("patient", [], lenient=False).types
    assert set(patient) == PATIENT_LEVEL_TYPES & set(SEARCH_PARAMETERS)
    assert "Practitioner" not in patient and "Binary" in patient


def test_type_is_comma_separated_and_repeatable() -> None:
    pairs = [("_type", "Patient, Observation"), ("_type", "Observation,DiagnosticReport")]
    request = parse_kickoff("system", pairs, lenient=False)
    assert request.types == ("Patient", "Observation", "DiagnosticReport")


@pytest.mark.parametrize(
    ("level", "pairs", "left_aside"),
    [
        ("system", [("_type", "Patient,Nonsense")], "Nonsense"),
        ("patient", [("_type", "Patient,Organization")], "Organization"),
        ("system", [("_outputFormat", "text/csv")], "_outputFormat"),
        ("system", [("_elements", "Patient.id")], "_elements"),
        ("system", [("includeAssociatedData", "LatestProvenanceResources")], "includeAssociated"),
        ("system", [("patient", "Patient/1")], "patient"),
        ("system", [("_count", "10")], "_count"),
        ("system", [("_typeFilter", "Observation?nonsense=1")], "nonsense"),
    ],
)
def test_unsupported_is_refused_or_left_aside(
    level: str, pairs: list[tuple[str, str]], left_aside: str
) -> None:
    with pytest.raises(UnsupportedExportParameter, match="handling=lenient"):
        parse_kickoff(level, pairs, lenient=False)  # type: ignore[arg-type]
    lenient = parse_kickoff(level, pairs, lenient=True)  # type: ignore[arg-type]
    assert len(lenient.ignored) == 1 and left_aside in lenient.ignored[0]


@pytest.mark.parametrize(
    "value",
    [
        "application/fhir+ndjson",
        "application/ndjson",
        "ndjson",
        "application/fhir ndjson",  # a + left unencoded in the query string
        "application/fhir+ndjson; charset=utf-8",
        "Application/FHIR+NDJSON",
    ],
)
def test_the_three_names_of_ndjson(value: str) -> None:
    assert parse_kickoff("system", [("_outputFormat", value)], lenient=False).ignored == ()


def test_since_is_an_instant_even_when_the_url_ate_its_plus() -> None:
    exact = parse_kickoff("system", [("_since", "2025-03-12T07:50:00.5+01:00")], lenient=False)
    assert exact.since == date_range("2025-03-12T06:50:00.5Z")[0]  # type: ignore[index]
    eaten = parse_kickoff("system", [("_since", "2025-03-12T07:50:00.5 01:00")], lenient=False)
    assert eaten.since == exact.since
    with pytest.raises(InvalidExportRequest, match="_since"):
        parse_kickoff("system", [("_since", "last week")], lenient=False)


def test_patients_as_references() -> None:
    pairs = [("patient", "Patient/a"), ("patient", "https://h/fhir/Patient/b,Patient/a")]
    assert parse_kickoff("patient", pairs, lenient=False).patients == ("Patient/a", "Patient/b")
    with pytest.raises(InvalidExportRequest, match="not a Patient reference"):
        parse_kickoff("patient", [("patient", "Group/7")], lenient=False)


def test_type_filter_queries_split_between_types_not_inside_values() -> None:
    value = (
        "Observation?code=http://loinc.org|718-7,http://loinc.org|2345-7&status=final,"
        "DiagnosticReport?status=final"
    )
    pairs = [("_type", "Observation,DiagnosticReport"), ("_typeFilter", value)]
    request = parse_kickoff("system", pairs, lenient=False)
    assert [t for t, _ in request.type_filters] == ["Observation", "DiagnosticReport"]
    (observations,) = request.filters_of("Observation")
    (code, status) = observations.conditions
    assert [v for _, v in code.values] == ["718-7", "2345-7"] and status.name == "status"


def test_type_filter_refusals() -> None:
    with pytest.raises(InvalidExportRequest, match="_sort"):
        parse_kickoff("system", [("_typeFilter", "Observation?code=1&_sort=date")], lenient=False)
    with pytest.raises(InvalidExportRequest, match="Type\\?query"):
        parse_kickoff("system", [("_typeFilter", "code=1")], lenient=False)
    with pytest.raises(InvalidSearch):
        parse_kickoff("system", [("_typeFilter", "Observation?date=gtyesterday")], lenient=False)
    with pytest.raises(UnsupportedExportParameter, match="not exported"):
        pairs = [("_type", "Patient"), ("_typeFilter", "Observation?code=1")]
        parse_kickoff("system", pairs, lenient=False)


def test_lenient_keeps_the_known_part_of_a_filter() -> None:
    pairs = [("_typeFilter", "Observation?status=final&nonsense=1")]
    request = parse_kickoff("system", pairs, lenient=True)
    assert request.type_filters == (("Observation", "status=final"),)


def test_stored_and_read_back_unchanged() -> None:
    request = parse_kickoff(
        "patient",
        [
            ("_type", "Observation"),
            ("_since", "2024-01-01T00:00:00Z"),
            ("patient", "Patient/x"),
            ("_typeFilter", "Observation?status=final"),
            ("_elements", "id"),
        ],
        lenient=True,
    )
    assert ExportRequest.from_json(request.to_json()) == request


def test_parameters_body() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_since", "valueInstant": "2024-01-01T00:00:00Z"},
            {"name": "patient", "valueReference": {"reference": "Patient/x"}},
        ],
    }
    assert parameter_pairs(body) == [
        ("_type", "Patient"),
        ("_since", "2024-01-01T00:00:00Z"),
        ("patient", "Patient/x"),
    ]
    for bad in [{"resourceType": "Bundle"}, {"resourceType": "Parameters", "parameter": [1]}, []]:
        with pytest.raises(InvalidExportRequest):
            parameter_pairs(bad)
    with pytest.raises(InvalidExportRequest, match="string"):
        parse_kickoff("system", [("_type", {"reference": "x"})], lenient=False)


def test_type_filter_searches_are_counted() -> None:
    """Found by a review: 1,100 searches were accepted, then SQLite refused the export's
    statement ("Expression tree is too large") and the job failed."""
    one = "Observation?code=1"
    limit = [("_typeFilter", ",".join([one] * MAX_TYPE_FILTERS))]
    assert len(parse_kickoff("system", limit, lenient=False).type_filters) == MAX_TYPE_FILTERS
    over = [("_typeFilter", one)] * (MAX_TYPE_FILTERS + 1)
    with pytest.raises(InvalidExportRequest, match=f"at most {MAX_TYPE_FILTERS}"):
        parse_kickoff("system", over, lenient=False)
