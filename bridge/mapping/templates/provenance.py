"""Where every resource came from → Provenance.

source: the document (its DocumentReference), its authors, and crbio-bridge itself
target: Provenance: target = every resource of the Bundle, activity = transform
        (ISO 21089), agents = the authoring lab and crbio-bridge (assembler),
        entity = the source document, and the replaced version (role revision)

`recorded` is the document's own time, not the clock: converting the same
document twice must give the same Bundle, byte for byte.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge import __version__
from bridge.cda.model import CdaDocument
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import identifier
from bridge.mapping.ids import stable_id
from bridge.mapping.templates.participants import organization

__all__ = ["map_provenance"]

TRANSFORM = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle",
            "code": "transform",
            "display": "Transform/Translate Record Lifecycle Event",
        }
    ]
}
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _agent(code: str, display: str, who: dict[str, str]) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": code, "display": display}]},
        "who": who,
    }


def map_provenance(doc: CdaDocument, source: dict[str, str], ctx: MappingContext) -> None:
    targets = [{"reference": f"urn:uuid:{r['id']}"} for r in ctx.bundle.resources()]
    converter = ctx.add(
        {
            "resourceType": "Device",
            "id": stable_id("Device", "crbio-bridge"),
            "deviceName": [{"name": "crbio-bridge", "type": "user-friendly-name"}],
            "version": [{"value": __version__}],
        }
    )
    agents = []
    for i, author in enumerate(doc.header.authors):
        lab = organization(author.entity.organization, ctx, f"author/{i}/org")
        if lab:
            agents.append(_agent("author", "Author", lab))
            break
    agents.append(_agent("assembler", "Assembler", converter))
    entities: list[dict[str, Any]] = [{"role": "source", "what": source}]
    entities += [
        {"role": "revision", "what": {"type": "DocumentReference", "identifier": ident}}
        for r in doc.header.related_documents
        if r.type_code == "RPLC"
        for ident in map(identifier, r.ids)
        if ident
    ]
    ctx.add(
        {
            "resourceType": "Provenance",
            "id": stable_id("Provenance", ctx.document_key),
            "target": targets,
            "recorded": ctx.issued or datetime.now(UTC).isoformat(timespec="seconds"),
            "activity": TRANSFORM,
            "agent": agents,
            "entity": entities,
        }
    )
