"""FR-Isolat-microbiologique → Observation (organism) with hasMember, and the isolate Specimen.

source: organizer[@classCode=CLUSTER], templateIds 1.3.6.1.4.1.19376.1.3.1.5 +
        1.2.250.1.213.1.1.3.79; the organism in
        specimen/specimenRole/specimenPlayingEntity[@classCode=MIC]/code (SNOMED CT)
target: Observation (code "microorganism identified", valueCodeableConcept = organism,
        hasMember → colony count and antibiogram), Specimen (the isolate, parent = the
        collected specimen): the HL7 Europe Laboratory Report pattern.
"""

from __future__ import annotations

import copy
from typing import Any

from bridge.cda.model import Isolate
from bridge.mapping.codes import LOINC, SNOMED
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept, identifier
from bridge.mapping.registry import map_entries, maps
from bridge.mapping.templates.media import map_media
from bridge.mapping.templates.observation_parts import (
    base_observation,
    narrow_scope,
    notes,
    observation_status,
)
from bridge.mapping.templates.specimen import add_specimen, specimen_reference

__all__ = ["map_isolate"]

# Used when the organizer carries no code of its own (the CR-BIO examples give none).
# The text is what every client shows as the result's label: a French one, as the
# lab's narrative says it ("Isolat : Escherichia coli"); LOINC's display stays English.
ORGANISM_IDENTIFIED = {
    "coding": [
        {
            "system": LOINC,
            "code": "11475-1",
            "display": "Microorganism identified in Unspecified specimen by Culture",
        }
    ],
    "text": "Micro-organisme identifié",
}
ISOLATE_SPECIMEN = {
    "coding": [{"system": SNOMED, "code": "119303007", "display": "Microbial isolate specimen"}]
}


@maps(Isolate)
def map_isolate(isolate: Isolate, scope: Scope, ctx: MappingContext) -> list[dict[str, str]]:
    parents = tuple(specimen_reference(s, ctx) for s in isolate.specimens) or scope.specimens
    isolate_specimen = _isolate_specimen(isolate, parents, ctx)
    scope = narrow_scope(
        scope,
        isolate.performers,
        isolate.validators,
        isolate.key,
        ctx,
        time=isolate.effective,
        specimens=(isolate_specimen,),
    )
    status = observation_status(isolate.status, isolate.node, ctx)
    code = codeable_concept(isolate.code, ctx) or copy.deepcopy(ORGANISM_IDENTIFIED)
    obs = base_observation(
        ctx.local_id("Observation", isolate.key),
        isolate.ids,
        status,
        code,
        isolate.effective,
        isolate.node,
        scope,
        ctx,
        time_in_scope=True,
    )
    # Observation.valueCodeableConcept: the organism (SNOMED CT, with its translations)
    organism = codeable_concept(isolate.organism, ctx, require_display=True)
    if organism:
        obs["valueCodeableConcept"] = organism
    note = notes(isolate.comments, ctx)
    if note:
        obs["note"] = note
    obs["specimen"] = isolate_specimen
    # Observation.hasMember: colony count, antibiogram battery…
    members = map_entries(isolate.members, scope, ctx)
    if members:
        obs["hasMember"] = members
    ref = ctx.add(obs)
    for media in isolate.media:
        map_media(media, ref, ctx)
    return [ref]


def _isolate_specimen(
    isolate: Isolate, parents: tuple[dict[str, str], ...], ctx: MappingContext
) -> dict[str, str]:
    identifiers = [i for i in map(identifier, isolate.isolate_ids) if i]
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": ctx.shared_id("Specimen", identifiers, f"{isolate.key}/isolate"),
    }
    if identifiers:
        resource["identifier"] = identifiers
    resource["type"] = ISOLATE_SPECIMEN
    resource["subject"] = ctx.subject
    if parents:
        resource["parent"] = list(parents)
    return add_specimen(resource, isolate.node, ctx)
