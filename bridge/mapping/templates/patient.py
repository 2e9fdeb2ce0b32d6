"""recordTarget/patientRole → Patient.

source: ClinicalDocument/recordTarget/patientRole (FR-Patient, INS)
target: Patient (FR Core Patient INS identifiers)

The Patient id follows the INS (INS-NIR / NIA, or their test and demo roots), else
the first local identifier (root + extension): results of one patient across
documents meet on the same Patient, never matched by name (brief §3).
"""

from __future__ import annotations

from typing import Any

from bridge.cda.datatypes import II
from bridge.cda.model import HeaderParticipant, Patient
from bridge.mapping.codes import GENDER
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import address, date_time, human_names, identifier, telecoms
from bridge.mapping.ids import stable_id
from bridge.mapping.templates.participants import responsible_party

__all__ = ["INS_ROOTS", "map_patient"]

INS_ROOTS = (
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.9",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.213.1.4.11",
)
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
GUARDIAN = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
            "code": "GUARD",
            "display": "guardian",
        }
    ]
}


def _patient_id(ids: tuple[II, ...], ctx: MappingContext) -> str:
    for wanted in (lambda i: i.root in INS_ROOTS, lambda i: True):
        for ii in ids:
            if ii.root and ii.extension and wanted(ii):
                return stable_id("Patient", ii.root, ii.extension)
    return ctx.local_id("Patient", "recordTarget")


def map_patient(
    patient: Patient | None, participants: tuple[HeaderParticipant, ...], ctx: MappingContext
) -> dict[str, str]:
    """The Patient of the document; returns its reference (also kept as `ctx.subject`)."""
    node = ctx.document.node
    if patient is None:
        resource = {"resourceType": "Patient", "id": ctx.local_id("Patient", "recordTarget")}
        ctx.issues.add("patient-without-ins", node, "the document has no recordTarget patient")
        ctx.subject = ctx.add(resource)
        return ctx.subject
    if not any(i.root in INS_ROOTS and i.extension for i in patient.ids):
        ctx.issues.add(
            "patient-without-ins",
            node,
            "the patient has no INS: linked across documents by the local id only",
            severity="information",
        )
    resource: dict[str, Any] = {"resourceType": "Patient", "id": _patient_id(patient.ids, ctx)}
    # Patient.identifier: INS first (FR Core INS-NIR / INS-NIA types), then local ids
    identifiers = [i for i in map(identifier, patient.ids) if i]
    identifiers.sort(key=lambda i: "type" not in i)
    if identifiers:
        resource["identifier"] = identifiers
    # Patient.name: official (birth name, INS) and usual (nom / prénom utilisés)
    names = [n for name in patient.names for n in human_names(name)]
    if names:
        resource["name"] = names
    if contact_points := telecoms(patient.telecoms):
        resource["telecom"] = contact_points
    if patient.gender is not None and patient.gender.code:
        resource["gender"] = GENDER.get(patient.gender.code, "unknown")
    birth = date_time(patient.birth_time, ctx, node)
    if birth:
        resource["birthDate"] = birth[:10]
    if patient.deceased_time:
        died = date_time(patient.deceased_time, ctx, node)
        if died:
            resource["deceasedDateTime"] = died
    elif patient.deceased is not None:
        resource["deceasedBoolean"] = patient.deceased
    if patient.addresses:
        resource["address"] = [address(a) for a in patient.addresses]
    # Patient.generalPractitioner: the médecin traitant (participant INF, function PCP)
    gps = [
        ref
        for i, p in enumerate(participants)
        if p.type_code == "INF"
        and (p.function is None or p.function.code in ("PCP", None))
        and (ref := responsible_party(p.entity, ctx, f"participant/{i}"))
    ]
    if gps:
        resource["generalPractitioner"] = gps
    if patient.birthplace is not None:
        resource["extension"] = [{"url": BIRTH_PLACE, "valueAddress": address(patient.birthplace)}]
    contacts = [_guardian(g) for g in patient.guardians]
    if contacts:
        resource["contact"] = [c for c in contacts if len(c) > 1]
        if not resource["contact"]:
            del resource["contact"]
    ctx.subject = ctx.add(resource)
    return ctx.subject


def _guardian(guardian: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {"relationship": [GUARDIAN]}
    names = human_names(guardian.person)
    if names:
        contact["name"] = names[0]
    if contact_points := telecoms(guardian.telecoms):
        contact["telecom"] = contact_points
    if guardian.addresses:
        contact["address"] = address(guardian.addresses[0])
    return contact
