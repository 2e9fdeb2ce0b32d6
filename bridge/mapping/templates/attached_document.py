"""FR-Document-attache → DiagnosticReport.presentedForm (the PDF copy) or an attached document.

source: organizer, templateId 1.2.250.1.213.1.1.3.18, holding FR-Type-document-attache
        (value: the document type, 55108-5 for the copy) and an observationMedia (B64)
target: the PDF copy of the report (section FR-Document-PDF-copie 1.2.250.1.213.1.1.2.243)
        → DiagnosticReport.presentedForm and a content of the report's DocumentReference;
        any other attached document (a second-line lab's report…) → its own DocumentReference
"""

from __future__ import annotations

from bridge.cda.model import AttachedDocument
from bridge.cda.templates import PDF_COPY_CODE
from bridge.mapping.attachments import attachment
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept
from bridge.mapping.registry import maps

__all__ = ["map_attached_document"]


@maps(AttachedDocument)
def map_attached_document(
    doc: AttachedDocument, scope: Scope, ctx: MappingContext
) -> list[dict[str, str]]:
    if doc.media is None:
        ctx.issues.add("media-invalid", doc.node, "attached document without observationMedia")
        return []
    header = ctx.document.header
    content = attachment(
        doc.media.content, ctx, title=doc.title, language=header.language, creation=ctx.issued
    )
    if content is None:
        return []
    if doc.type is not None and doc.type.code == PDF_COPY_CODE:
        ctx.presented_forms.append(content)
    else:
        ctx.attachments.append((codeable_concept(doc.type, ctx), content))
    return []
