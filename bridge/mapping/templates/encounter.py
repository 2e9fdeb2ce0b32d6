"""componentOf/encompassingEncounter → Encounter (and its Location).

source: ClinicalDocument/componentOf/encompassingEncounter
target: Encounter, Location

The Encounter is scoped to the document: encounter ids in CR-BIO are often not
visit numbers (the ANS examples reuse a biologist's RPPS), so they are kept as
identifiers but never used to merge encounters across documents.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import Encounter
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import (
    address,
    codeable_concept,
    coding,
    date_time,
    identifier,
    period,
)
from bridge.mapping.templates.participants import organization, responsible_party

__all__ = ["map_encounter"]

UNKNOWN_CLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
    "code": "UNK",
    "display": "unknown",
}


def map_encounter(encounter: Encounter | None, ctx: MappingContext) -> dict[str, str] | None:
    if encounter is None:
        return None
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": ctx.local_id("Encounter", "encompassingEncounter"),
        "status": "finished",
        # Encounter.class (1..1 in R4): the CDA encounter code (v3 ActCode AMB, IMP…)
        "class": (
            coding(encounter.code) if encounter.code and encounter.code.code else UNKNOWN_CLASS
        ),
        "subject": ctx.subject,
    }
    identifiers = [i for i in map(identifier, encounter.ids) if i]
    if identifiers:
        resource["identifier"] = identifiers
    provider = organization(
        encounter.responsible.organization if encounter.responsible else None,
        ctx,
        "encounter/responsible/org",
    )
    # Encounter.period: a point in time is the start of the encounter
    span = period(encounter.effective, ctx)
    point = encounter.effective.value if encounter.effective else None
    if span is None and point:
        start = date_time(point, ctx, encounter.effective.node)  # type: ignore[union-attr]
        span = {"start": start} if start else None
    if span:
        resource["period"] = span
    who = responsible_party(encounter.responsible, ctx, "encounter/responsible")
    if who is not None and who["reference"] != (provider or {}).get("reference"):
        resource["participant"] = [{"individual": who}]
    if provider:
        resource["serviceProvider"] = provider
    location = _location(encounter, ctx)
    if location:
        resource["location"] = [{"location": location}]
    ctx.encounter = ctx.add(resource)
    return ctx.encounter


def _location(encounter: Encounter, ctx: MappingContext) -> dict[str, str] | None:
    if not (encounter.location_name or encounter.location_address or encounter.location_code):
        return None
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": ctx.local_id("Location", "encompassingEncounter/location"),
        "status": "active",
    }
    if encounter.location_name:
        resource["name"] = encounter.location_name
    kind = codeable_concept(encounter.location_code, ctx)
    if kind:
        resource["type"] = [kind]
    if encounter.location_address:
        resource["address"] = address(encounter.location_address)
    ref = ctx.add(resource)
    if encounter.location_name:
        ref["display"] = encounter.location_name
    return ref
