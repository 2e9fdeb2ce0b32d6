"""FR-Prelevement (specimen collection procedure) → Specimen.

source: procedure, templateIds 1.3.6.1.4.1.19376.1.3.1.2 + 1.2.250.1.213.1.1.3.77,
        its participant PRD (specimen id and type, v2-0487), performer (préleveur),
        targetSiteCode, and the "specimen received" act 1.3.6.1.4.1.19376.1.3.1.3
target: Specimen (type, collection.collected[x], collector, method, bodySite, receivedTime)

A specimen with an identifier is the same resource in every document of the
patient (a replacement report points to the same tube).
"""

from __future__ import annotations

from typing import Any

from bridge.cda.datatypes import IVL_TS
from bridge.cda.model import SpecimenCollection
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept, date_time, identifier, period
from bridge.mapping.registry import maps
from bridge.mapping.templates.participants import responsible_party

__all__ = ["add_specimen", "collection_time", "specimen_reference"]


def collection_time(collection: SpecimenCollection | None) -> IVL_TS | None:
    """The collection instant: the procedure's time, whichever bound the producer wrote."""
    if collection is None or collection.effective is None:
        return None
    time = collection.effective
    point = (
        time.value or (time.high if not time.low else None) or (time.low if not time.high else None)
    )
    return IVL_TS(value=point, node=time.node) if point else time


def specimen_reference(collection: SpecimenCollection, ctx: MappingContext) -> dict[str, str]:
    identifiers = [i for i in map(identifier, collection.specimen_ids) if i]
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": ctx.shared_id("Specimen", identifiers, collection.key),
    }
    if identifiers:
        resource["identifier"] = identifiers
    # Specimen.type: nature de l'échantillon (HL7 v2-0487)
    kind = codeable_concept(collection.specimen_type, ctx)
    if kind:
        resource["type"] = kind
    resource["subject"] = ctx.subject
    received = date_time(collection.received_time, ctx, collection.node)
    if received:
        resource["receivedTime"] = received
    if ctx.based_on:
        resource["request"] = list(ctx.based_on)
    gathered = _collection(collection, ctx)
    if gathered:
        resource["collection"] = gathered
    return add_specimen(resource, collection.node, ctx)


def add_specimen(resource: dict[str, Any], node: Any, ctx: MappingContext) -> dict[str, str]:
    """Put a Specimen in the Bundle and in the report's list (DiagnosticReport.specimen)."""
    ref = ctx.add(resource, node)
    if ref not in ctx.specimens:
        ctx.specimens.append(ref)
    return ref


def _collection(collection: SpecimenCollection, ctx: MappingContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Specimen.collection.collector: the procedure's performer, else the header's préleveur
    collector = responsible_party(collection.collector, ctx, f"{collection.key}/collector")
    if collector is None:
        for i, p in enumerate(ctx.document.header.participants):
            if p.type_code == "PRF":
                collector = responsible_party(p.entity, ctx, f"participant/{i}")
                break
    if collector:
        out["collector"] = collector
    point = collection_time(collection)
    if point is not None and point.value:
        when = date_time(point.value, ctx, point.node)
        if when:
            out["collectedDateTime"] = when
    elif span := period(collection.effective, ctx):
        out["collectedPeriod"] = span
    # Specimen.collection.method: the collection act code (NABM), as the producer gave it
    method = codeable_concept(collection.code, ctx)
    if method:
        out["method"] = method
    site = codeable_concept(collection.target_site, ctx)
    if site:
        out["bodySite"] = site
    return out


@maps(SpecimenCollection)
def map_specimen_entry(
    collection: SpecimenCollection, scope: Scope, ctx: MappingContext
) -> list[dict[str, str]]:
    """A FR-Prelevement met outside a lab act: a Specimen of the report, listed by it."""
    specimen_reference(collection, ctx)
    return []
