"""The patient compartment of FHIR R4, and what Provenance and Binary follow."""

from __future__ import annotations

from bridge.export.compartment import patients_of, references_followed


def test_the_inclusion_parameters_of_r4() -> None:
    observation = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/a"},
        "performer": [{"reference": "Practitioner/p"}, {"reference": "Patient/b"}],
        "specimen": {"reference": "Specimen/s"},
    }
    assert patients_of(observation) == {"Patient/a", "Patient/b"}
    document = {"resourceType": "DocumentReference", "author": [{"reference": "Patient/c"}]}
    assert patients_of(document) == {"Patient/c"}
    encounter = {"resourceType": "Encounter", "subject": {"reference": "https://h/fhir/Patient/d"}}
    assert patients_of(encounter) == {"Patient/d"}


def test_a_patient_and_the_patients_linked_to_it() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "a",
        "link": [{"other": {"reference": "Patient/b"}}],
    }
    assert patients_of(patient) == {"Patient/a", "Patient/b"}


def test_never_in_the_compartment() -> None:
    for resource_type in ("Practitioner", "Organization", "Location", "Device", "ConceptMap"):
        resource = {"resourceType": resource_type, "subject": {"reference": "Patient/a"}}
        assert patients_of(resource) == set(), resource_type
    assert patients_of({"resourceType": "Observation", "subject": {"reference": "#p"}}) == set()


def test_provenance_and_binary_follow_what_they_name() -> None:
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": "DiagnosticReport/r"}, {"reference": "Patient/a"}],
    }
    assert patients_of(provenance) == {"Patient/a"}  # the R4 `patient` parameter
    assert references_followed(provenance) == [("DiagnosticReport", "r")]
    binary = {"resourceType": "Binary", "securityContext": {"reference": "DocumentReference/d"}}
    assert patients_of(binary) == set()
    assert references_followed(binary) == [("DocumentReference", "d")]
    secured_by_patient = {"resourceType": "Binary", "securityContext": {"reference": "Patient/a"}}
    assert patients_of(secured_by_patient) == {"Patient/a"}
    assert references_followed({"resourceType": "Observation", "subject": {}}) == []
