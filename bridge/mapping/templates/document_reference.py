"""The source CDA, its PDF copy and attached documents → DocumentReference + Binary.

source: the document as received (bytes), its header (id, setId, code, title,
        confidentiality, authors, legal authenticator, custodian, relatedDocument)
target: DocumentReference (content 1: the CDA, format IHE XD-LAB; content 2: the PDF
        copy) and a Binary for each; one more DocumentReference per attached document

Attachments point to their Binary by relative URL (`Binary/<id>`): the Bundle PUTs
each Binary under that id, so the URL is right on any server that takes the Bundle.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pybase64

from bridge.cda.model import CdaDocument
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import codeable_concept, identifier, period
from bridge.mapping.ids import stable_id
from bridge.mapping.templates.participants import device, organization, responsible_party

__all__ = ["map_attached_documents", "map_source_document"]

CDA_CONTENT_TYPE = "text/xml"  # as IHE XDS and the French DMP register CDA documents
FORMAT_CODES = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
XD_LAB = {
    "system": FORMAT_CODES,
    "code": "urn:ihe:lab:xd-lab:2008",
    "display": "CDA Laboratory Report",
}
XDS_SD_PDF = {
    "system": FORMAT_CODES,
    "code": "urn:ihe:iti:xds-sd:pdf:2008",
    "display": "Scanned Documents (PDF)",
}
RELATION = {"RPLC": "replaces", "APND": "appends", "XFRM": "transforms"}


def _binary(
    resource_id: str, content_type: str, data: str, context: dict[str, str], ctx: MappingContext
) -> None:
    ctx.add(
        {
            "resourceType": "Binary",
            "id": resource_id,
            "contentType": content_type,
            "securityContext": context,
            "data": data,
        }
    )


def map_source_document(
    doc: CdaDocument, report: dict[str, str], final: bool, ctx: MappingContext
) -> dict[str, str]:
    header = doc.header
    doc_ref_id = stable_id("DocumentReference", ctx.document_key)
    doc_ref = {"reference": f"urn:uuid:{doc_ref_id}"}
    resource: dict[str, Any] = {"resourceType": "DocumentReference", "id": doc_ref_id}
    master = identifier(header.document_id)
    if master:
        resource["masterIdentifier"] = master
    set_id = identifier(header.set_id)
    if set_id:
        resource["identifier"] = [set_id]
    resource["status"] = "current"
    resource["docStatus"] = "final" if final else "preliminary"
    kind = codeable_concept(header.code, ctx)
    if kind:
        resource["type"] = kind
    resource["subject"] = ctx.subject
    if ctx.issued:
        resource["date"] = ctx.issued
    authors = _authors(doc, ctx)
    if authors:
        resource["author"] = authors
    if header.legal_authenticator is not None:
        signer = responsible_party(header.legal_authenticator.entity, ctx, "legalAuthenticator")
        if signer:
            resource["authenticator"] = signer
    custodian = organization(header.custodian, ctx, "custodian")
    if custodian:
        resource["custodian"] = custodian
    # DocumentReference.relatesTo: the version this document replaces (RPLC)…
    relations = [
        {
            "code": RELATION[r.type_code],
            "target": {"type": "DocumentReference", "identifier": ident},
        }
        for r in header.related_documents
        if r.type_code in RELATION
        for ident in map(identifier, r.ids)
        if ident
    ]
    if relations:
        resource["relatesTo"] = relations
    if header.title:
        resource["description"] = header.title
    security = codeable_concept(header.confidentiality, ctx)
    if security:
        resource["securityLabel"] = [security]
    resource["content"] = _contents(doc, doc_ref, ctx)
    context: dict[str, Any] = {}
    if ctx.encounter:
        context["encounter"] = [ctx.encounter]
    events = [period(e.effective, ctx) for e in header.service_events]
    if events and events[0]:
        context["period"] = events[0]
    context["related"] = [report]
    resource["context"] = context
    return ctx.add(resource)


def _contents(
    doc: CdaDocument, doc_ref: dict[str, str], ctx: MappingContext
) -> list[dict[str, Any]]:
    """The CDA as received, then its PDF copy (or the N1 body), each stored as a Binary."""
    header = doc.header
    source_id = stable_id("Binary", ctx.document_key, "source")
    # pybase64 (SIMD) encodes the megabytes of a CDA with its PDF three times faster than
    # the standard library: a tenth of a whole conversion
    _binary(source_id, CDA_CONTENT_TYPE, pybase64.b64encode_as_string(doc.source), doc_ref, ctx)
    cda: dict[str, Any] = {"contentType": CDA_CONTENT_TYPE}
    if header.language:
        cda["language"] = header.language
    cda["url"] = f"Binary/{source_id}"
    cda["size"] = len(doc.source)
    cda["hash"] = pybase64.b64encode_as_string(hashlib.sha1(doc.source).digest())
    if header.title:
        cda["title"] = header.title
    if ctx.issued:
        cda["creation"] = ctx.issued
    contents = [{"attachment": cda, "format": XD_LAB if header.kind.structured else XDS_SD_PDF}]
    for i, form in enumerate(ctx.presented_forms):
        pdf_id = stable_id("Binary", ctx.document_key, "presented", str(i))
        _binary(pdf_id, form["contentType"], form["data"], doc_ref, ctx)
        copy = {k: v for k, v in form.items() if k != "data"}
        copy["url"] = f"Binary/{pdf_id}"
        contents.append({"attachment": copy})
    return contents


def _authors(doc: CdaDocument, ctx: MappingContext) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for i, author in enumerate(doc.header.authors):
        entity = author.entity
        ref = device(entity, ctx, f"author/{i}") or responsible_party(entity, ctx, f"author/{i}")
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def map_attached_documents(report: dict[str, str], ctx: MappingContext) -> list[dict[str, str]]:
    """Documents carried inside the report (not its PDF copy) → their own DocumentReference."""
    refs = []
    for i, (kind, content) in enumerate(ctx.attachments):
        doc_ref_id = stable_id("DocumentReference", ctx.document_key, "attached", str(i))
        binary_id = stable_id("Binary", ctx.document_key, "attached", str(i))
        doc_ref = {"reference": f"urn:uuid:{doc_ref_id}"}
        _binary(binary_id, content["contentType"], content["data"], doc_ref, ctx)
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "id": doc_ref_id,
            "status": "current",
        }
        if kind:
            resource["type"] = kind
        resource["subject"] = ctx.subject
        if ctx.issued:
            resource["date"] = ctx.issued
        if content.get("title"):
            resource["description"] = content["title"]
        attached = {k: v for k, v in content.items() if k != "data"}
        attached["url"] = f"Binary/{binary_id}"
        resource["content"] = [{"attachment": attached}]
        resource["context"] = {"related": [report]}
        refs.append(ctx.add(resource))
    return refs
