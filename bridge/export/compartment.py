"""Which patient a stored resource belongs to: the patient compartment of FHIR R4.

source: CompartmentDefinition/patient of FHIR 4.0.1
(http://hl7.org/fhir/R4/compartmentdefinition-patient.html), its rows for the resource
types this server stores. Practitioner, PractitionerRole, Organization, Location,
Device, ConceptMap and Binary are "never in this compartment".

Two rules come from Bulk Data v2 rather than from the compartment itself:
- a Provenance belongs with the resources it is about: "the server SHALL include all
  available Provenance resources whose Provenance.target is a resource in the Patient
  compartment" (its R4 `patient` parameter only covers a target that is the Patient);
- a Binary belongs to the compartment of the resource named by its `securityContext`,
  which R4 defines as the resource whose access rules the Binary follows. The PDF copy
  and the source CDA of a report name the report's DocumentReference there, so they
  belong to that patient. A Binary without one belongs to no patient.
"""

from __future__ import annotations

from typing import Any

from bridge.store.indexing import values_at

__all__ = [
    "COMPARTMENT",
    "FOLLOWERS",
    "PATIENT_LEVEL_TYPES",
    "patient_reference",
    "patients_of",
    "references_followed",
]

# resource type → the elements behind its inclusion parameters in the R4 definition
COMPARTMENT: dict[str, tuple[str, ...]] = {
    "Patient": ("link.other",),  # link (and the patient itself)
    "Observation": ("subject", "performer"),
    "DiagnosticReport": ("subject",),
    "Specimen": ("subject",),
    "DocumentReference": ("subject", "author"),
    "ServiceRequest": ("subject", "performer"),
    "Encounter": ("subject",),  # its `patient` parameter is Encounter.subject
    "Media": ("subject",),
    "Provenance": ("target",),  # its `patient` parameter is Provenance.target
}

# Types that also belong through the resources they name (see the module docstring)
FOLLOWERS: dict[str, str] = {"Provenance": "target", "Binary": "securityContext"}

PATIENT_LEVEL_TYPES = frozenset(COMPARTMENT) | frozenset(FOLLOWERS)


def patient_reference(reference: Any) -> str | None:
    """ "Patient/<id>" for a reference to a Patient (relative or absolute), else None.

    >>> patient_reference("https://example.org/fhir/Patient/42")
    'Patient/42'
    >>> patient_reference("Practitioner/7") is None
    True
    """
    if not isinstance(reference, str):
        return None
    parts = reference.rstrip("/").rsplit("/", 2)
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return f"Patient/{parts[-1]}"
    return None


def _references(resource: dict[str, Any], path: str) -> list[str]:
    found = []
    for value in values_at(resource, path):
        reference = value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str) and not reference.startswith("#"):
            found.append(reference)
    return found


def patients_of(resource: dict[str, Any]) -> set[str]:
    """The patients ("Patient/<id>") whose compartment holds the resource by its own
    elements (Provenance and Binary may belong through others too: `references_followed`)."""
    resource_type = resource.get("resourceType")
    found = set()
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        found.add(f"Patient/{resource['id']}")
    paths = COMPARTMENT.get(str(resource_type), ())
    if resource_type in FOLLOWERS and FOLLOWERS[str(resource_type)] not in paths:
        paths = (*paths, FOLLOWERS[str(resource_type)])  # a Binary secured by the Patient
    for path in paths:
        for reference in _references(resource, path):
            patient = patient_reference(reference)
            if patient is not None:
                found.add(patient)
    return found


def references_followed(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, id) of the resources whose compartment a Provenance or a Binary follows
    (Patients aside: `patients_of` has them)."""
    path = FOLLOWERS.get(str(resource.get("resourceType")))
    if path is None:
        return []
    followed = []
    for reference in _references(resource, path):
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != "Patient" and parts[-2][:1].isupper():
            followed.append((parts[-2], parts[-1]))
    return followed
