"""inFulfillmentOf/order and the prescriber (participant REF) → ServiceRequest.

source: ClinicalDocument/inFulfillmentOf/order, participant[@typeCode=REF]
        (IHE PaLM Ordering Provider 1.3.6.1.4.1.19376.1.3.3.1.6)
target: ServiceRequest (DiagnosticReport.basedOn, Observation.basedOn)

The ServiceRequest is identified by the patient and the order id, so that a
report replacing an earlier one fulfils the same request.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import Header
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import date_time, identifier
from bridge.mapping.templates.participants import responsible_party

__all__ = ["map_order"]

PLACER = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "PLAC",
            "display": "Placer Identifier",
        }
    ]
}


def map_order(header: Header, final: bool, ctx: MappingContext) -> dict[str, str] | None:
    prescribers = [(i, p) for i, p in enumerate(header.participants) if p.type_code == "REF"]
    identifiers = [{"type": PLACER, **i} for i in map(identifier, header.order_ids) if i]
    if not identifiers and not prescribers:
        return None
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": ctx.shared_id("ServiceRequest", identifiers, "order"),
    }
    if identifiers:
        resource["identifier"] = identifiers
    resource["status"] = "completed" if final else "active"
    resource["intent"] = "order"
    resource["subject"] = ctx.subject
    if ctx.encounter:
        resource["encounter"] = ctx.encounter
    if prescribers:
        index, prescriber = prescribers[0]
        time = prescriber.time
        # ServiceRequest.authoredOn: date of the prescription (participant time)
        written = (time.value or time.high or time.low) if time else None
        authored = date_time(written, ctx, time.node if time else None)
        if authored:
            resource["authoredOn"] = authored
        # ServiceRequest.requester: the prescriber
        requester = responsible_party(prescriber.entity, ctx, f"participant/{index}")
        if requester:
            resource["requester"] = requester
    ref = ctx.add(resource)
    ctx.based_on = [ref]
    return ref
