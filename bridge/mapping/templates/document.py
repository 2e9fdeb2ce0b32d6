"""ClinicalDocument → the whole Bundle, in the order a reader expects.

source: a CR-BIO / BIO-TROD document (N3 structured, or N1 with a PDF body)
target: Patient, Encounter, ServiceRequest, the Observations and Specimens of the
        body, DiagnosticReport, DocumentReference (+ Binary), Provenance
"""

from __future__ import annotations

from bridge.cda.model import CdaDocument, Participation
from bridge.mapping.attachments import attachment
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import instant
from bridge.mapping.templates.document_reference import (
    map_attached_documents,
    map_source_document,
)
from bridge.mapping.templates.encounter import map_encounter
from bridge.mapping.templates.observation_parts import validation_time
from bridge.mapping.templates.order import map_order
from bridge.mapping.templates.patient import map_patient
from bridge.mapping.templates.provenance import map_provenance
from bridge.mapping.templates.report import (
    HeaderActors,
    header_actors,
    map_report,
    report_status,
)
from bridge.mapping.templates.sections import map_sections

__all__ = ["map_document"]


def map_document(doc: CdaDocument, ctx: MappingContext) -> None:
    header = doc.header
    ctx.issued = _document_instant(doc, ctx)
    map_patient(header.patient, header.participants, ctx)
    map_encounter(header.encounter, ctx)
    status = report_status(doc)
    final = status != "partial"
    map_order(header, final, ctx)
    actors = header_actors(doc, ctx)
    results, categories = map_sections(doc.sections, _document_scope(doc, actors, ctx), ctx)
    if doc.non_xml_body is not None:
        # N1: the PDF is the whole body: the report's presented form, and no results
        body = attachment(
            doc.non_xml_body, ctx, title=header.title, language=header.language, creation=ctx.issued
        )
        if body is not None:
            ctx.presented_forms.append(body)
    report = map_report(doc, status, actors, results, categories, ctx)
    source = map_source_document(doc, report, final, ctx)
    map_attached_documents(report, ctx)
    map_provenance(doc, source, ctx)


def _document_scope(doc: CdaDocument, actors: HeaderActors, ctx: MappingContext) -> Scope:
    """Performers and validators the header gives for every result of the report."""
    validators = tuple(
        Participation(p.entity, p.time) for p in doc.header.participants if p.type_code == "AUTHEN"
    )
    return Scope(
        performers=actors.lab,
        validators=actors.all_validators(),
        validated=validation_time(validators, None, ctx),
    )


def _document_instant(doc: CdaDocument, ctx: MappingContext) -> str | None:
    """When the report was issued: its effectiveTime, to the second and with its offset.

    Without an offset it cannot be a FHIR instant: the legal authenticator's or the
    first author's time stands in, and the issue says so.
    """
    header = doc.header
    issued = instant(header.effective_time, ctx, doc.node)
    if issued is not None or not header.effective_time:
        return issued
    stand_ins = [header.legal_authenticator, *header.authors]
    for participation in stand_ins:
        time = participation.time if participation is not None else None
        moment = instant(time.value or time.high or time.low, ctx, time.node) if time else None
        if moment is not None:
            ctx.issues.add(
                "time-without-offset",
                doc.node,
                f"document effectiveTime {header.effective_time} has no time or no UTC "
                f"offset: {moment}, the signature or authoring time, is used as the "
                "issue time",
                input=header.effective_time,
            )
            return moment
    ctx.issues.add(
        "time-without-offset",
        doc.node,
        f"document effectiveTime {header.effective_time} has no time or no UTC offset: "
        "the report has no issue time",
        input=header.effective_time,
    )
    return None
