"""The report itself → DiagnosticReport.

source: ClinicalDocument header (id, code, title, effectiveTime, legalAuthenticator,
        documentationOf/serviceEvent with lab:statusCode and the lab performer,
        relatedDocument RPLC), the results of the body, the narrative of every section
target: DiagnosticReport (brief §3, "The report itself")

Report-level comments use R5's DiagnosticReport.note through its R4 cross-version
extension; the replaced document is named by a crbio-bridge extension (a logical
reference by identifier: the earlier report need not be in this Bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.cda.model import CdaDocument
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import codeable_concept, date_time, identifier
from bridge.mapping.ids import stable_id
from bridge.mapping.templates.participants import entity_references, responsible_party
from bridge.mapping.templates.report_text import report_text

__all__ = [
    "HeaderActors",
    "LAB",
    "NOTE_EXTENSION",
    "REPLACES_EXTENSION",
    "header_actors",
    "map_report",
    "report_status",
]

LAB = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "LAB",
            "display": "Laboratory",
        }
    ]
}
FILLER = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "FILL",
            "display": "Filler Identifier",
        }
    ]
}
NOTE_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
REPLACES_EXTENSION = "https://crbio-bridge.org/fhir/StructureDefinition/replaces-report"


def report_status(doc: CdaDocument) -> str:
    """lab:statusCode of the service event: completed → final, active → partial;
    a final report that replaces an earlier version (RPLC) is amended."""
    statuses = {e.status for e in doc.header.service_events if e.status}
    status = "partial" if "active" in statuses else "final"
    if status == "final" and any(r.type_code == "RPLC" for r in doc.header.related_documents):
        return "amended"
    return status


@dataclass(frozen=True, slots=True)
class HeaderActors:
    """The header's executing lab and validating biologists, each mapped once: for the
    report, and through the document's scope for every result."""

    lab: tuple[dict[str, str], ...]  # serviceEvent performers, without repeats
    validators: tuple[tuple[dict[str, str], ...], ...]  # each AUTHEN participant's references

    def all_validators(self) -> tuple[dict[str, str], ...]:
        """The references of every validator, without repeats."""
        refs: list[dict[str, str]] = []
        for ref in (r for refs_of_one in self.validators for r in refs_of_one):
            if ref not in refs:
                refs.append(ref)
        return tuple(refs)


def header_actors(doc: CdaDocument, ctx: MappingContext) -> HeaderActors:
    """serviceEvent performers and participants AUTHEN → their resources, once per element."""
    lab: list[dict[str, str]] = []
    for e, event in enumerate(doc.header.service_events):
        for p, performer in enumerate(event.performers):
            for ref in entity_references(performer.entity, ctx, f"serviceEvent/{e}/{p}"):
                if ref not in lab:
                    lab.append(ref)
    validators = tuple(
        tuple(entity_references(p.entity, ctx, f"participant/{i}"))
        for i, p in enumerate(doc.header.participants)
        if p.type_code == "AUTHEN"
    )
    return HeaderActors(tuple(lab), validators)


def map_report(
    doc: CdaDocument,
    status: str,
    actors: HeaderActors,
    results: list[dict[str, str]],
    categories: list[dict[str, Any]],
    ctx: MappingContext,
) -> dict[str, str]:
    header = doc.header
    document_id = identifier(header.document_id)
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": stable_id("DiagnosticReport", ctx.document_key),
    }
    if header.language:
        resource["language"] = header.language
    when = _effective(doc, results, ctx)
    # DiagnosticReport.text: the header and every section's narrative (report_text.py)
    resource["text"] = report_text(doc, when, ctx)
    extensions = [{"url": NOTE_EXTENSION, "valueAnnotation": n} for n in ctx.notes]
    for related in header.related_documents:
        if related.type_code == "RPLC":
            replaced = ", ".join(
                f"{i.root}{'^' + i.extension if i.extension else ''}" for i in related.ids
            )
            ctx.issues.add(
                "replaces-document",
                doc.node,
                f"this report replaces document {replaced}: where that report is stored, its "
                "results must leave the current results (crbio-bridge's store does it on "
                "ingestion)",
                input=replaced,
                severity="information",
            )
    extensions += [
        {
            "url": REPLACES_EXTENSION,
            "valueReference": {"type": "DiagnosticReport", "identifier": ident},
        }
        for related in header.related_documents
        if related.type_code == "RPLC"
        for ident in map(identifier, related.ids)
        if ident
    ]
    if extensions:
        resource["extension"] = extensions
    # DiagnosticReport.identifier: the document id, and the lab's request number (filler)
    identifiers = [document_id] if document_id else []
    identifiers += [
        {"type": FILLER, **i}
        for event in header.service_events
        for i in map(identifier, event.ids)
        if i
    ]
    if identifiers:
        resource["identifier"] = identifiers
    if ctx.based_on:
        resource["basedOn"] = list(ctx.based_on)
    resource["status"] = status
    # DiagnosticReport.category: laboratory, then the chapters and sub-chapters
    resource["category"] = [LAB, *categories]
    code = codeable_concept(header.code, ctx) or {}
    if header.title:
        code["text"] = header.title
    resource["code"] = code
    resource["subject"] = ctx.subject
    if ctx.encounter:
        resource["encounter"] = ctx.encounter
    if when:
        resource[when[0]] = when[1]
    if ctx.issued:
        resource["issued"] = ctx.issued
    performers = _performers(doc, actors, ctx)
    if performers:
        resource["performer"] = performers
    interpreters = _interpreters(doc, actors, ctx)
    if interpreters:
        resource["resultsInterpreter"] = interpreters
    if ctx.specimens:
        resource["specimen"] = list(ctx.specimens)
    if results:
        resource["result"] = results
    if ctx.media:
        resource["media"] = list(ctx.media)
    # DiagnosticReport.presentedForm: the PDF copy, shown and printed first (brief §2, §9)
    if ctx.presented_forms:
        resource["presentedForm"] = list(ctx.presented_forms)
    return ctx.add(resource)


def _performers(
    doc: CdaDocument, actors: HeaderActors, ctx: MappingContext
) -> list[dict[str, str]]:
    """The executing lab (serviceEvent performer), else the authors' organisations."""
    refs = list(actors.lab)
    if not refs:
        for a, author in enumerate(doc.header.authors):
            org = author.entity.organization
            if org is not None:
                refs.extend(
                    r
                    for r in entity_references(author.entity, ctx, f"author/{a}")[-1:]
                    if r not in refs
                )
    return refs


def _interpreters(
    doc: CdaDocument, actors: HeaderActors, ctx: MappingContext
) -> list[dict[str, str]]:
    """The legal authenticator, then the biologists who validated results (header AUTHEN)."""
    refs = []
    legal = doc.header.legal_authenticator
    if legal is not None:
        ref = responsible_party(legal.entity, ctx, "legalAuthenticator")
        if ref:
            refs.append(ref)
    for validator in actors.validators:
        # one reference per validator: the PractitionerRole, else the Organization
        if validator and validator[0] not in refs:
            refs.append(validator[0])
    return refs


def _effective(
    doc: CdaDocument, results: list[dict[str, str]], ctx: MappingContext
) -> tuple[str, Any] | None:
    """Collection time: of the specimens, else of the header's préleveur, else of the results."""
    times: list[str] = []
    for ref in ctx.specimens:
        specimen = ctx.bundle.get("Specimen", ref["reference"][9:]) or {}
        when = specimen.get("collection", {}).get("collectedDateTime")
        if when and when not in times:
            times.append(when)
    if not times:
        for p in doc.header.participants:
            if p.type_code == "PRF" and p.time is not None:
                when = date_time(p.time.value or p.time.high or p.time.low, ctx, p.time.node)
                if when:
                    times.append(when)
    if not times:
        for ref in results:
            obs = ctx.bundle.get("Observation", ref["reference"][9:]) or {}
            when = obs.get("effectiveDateTime")
            if when and when not in times:
                times.append(when)
    if not times:
        return None
    if len(times) == 1:
        return "effectiveDateTime", times[0]
    start = min(times, key=lambda t: _bounds(t)[0])
    end = max(times, key=lambda t: _bounds(t)[1])
    return "effectivePeriod", {"start": start, "end": end}


def _bounds(value: str) -> tuple[float, float]:
    """The first and last instant a FHIR date or dateTime covers, as UTC timestamps.

    A date alone covers its whole day (read in UTC), so that a Period built from a
    date and a dateTime never ends before it starts.
    """
    if "T" in value:
        if value[17:19] == "60":  # a leap second (FHIR has them, datetime not): its minute's last
            value = f"{value[:17]}59{value[19:]}"
        moment = datetime.fromisoformat(value).timestamp()
        return moment, moment
    parts = [int(p) for p in value.split("-")]
    first = datetime(parts[0], *(parts[1:] or [1]), *([1] if len(parts) < 3 else []), tzinfo=UTC)
    try:
        if len(parts) == 3:
            following = first + timedelta(days=1)
        elif len(parts) == 2:
            following = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1, tzinfo=UTC)
        else:
            following = datetime(parts[0] + 1, 1, 1, tzinfo=UTC)
    except (OverflowError, ValueError):  # the period ends with year 9999, as time does here
        return first.timestamp(), datetime.max.replace(tzinfo=UTC).timestamp()
    return first.timestamp(), following.timestamp() - 1e-6
