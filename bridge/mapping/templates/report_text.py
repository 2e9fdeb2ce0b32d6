"""The report as a person reads it → DiagnosticReport.text.

source: the CDA header (title, patient and INS, laboratory and custodian, prescriber,
        legal authenticator, order, times) and every section's narrative block, in
        document order (chapter and sub-chapter titles as headings)
target: DiagnosticReport.text (Narrative: status and XHTML div)

So that any FHIR client can show a report that has no PDF copy (brief §9; webinar:
"affichage des éléments de l'entête et des parties narratives"). A report with a PDF
copy still gets it. An N1 document (PDF only) gets the header and a sentence saying that
the report is its PDF copy. Labels are French, as the reports are.

Status `additional` (FHIR R4 NarrativeStatus): the text is the laboratory's own
narrative, which holds what the structured data does not (methods written out, layout,
comments); `generated` would claim it is derived from the resource's elements only, and
tools that regenerate `generated` narratives would replace the lab's text by theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bridge.cda.datatypes import PersonName
from bridge.cda.model import (
    AttachedDocument,
    BodyEntry,
    CdaDocument,
    Entity,
    Media,
    Narrative,
    Organization,
    Section,
)
from bridge.mapping.codes import GENDER, identifier_type
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import human_names
from bridge.mapping.narrative import NarrativeContext, number_footnotes, write_narrative
from bridge.mapping.xhtml import XhtmlWriter

__all__ = ["NARRATIVE_STATUS", "PDF_ONLY", "report_text"]

# FHIR's "extensions": generated from the report's structured content and its extensions
# (the header's actors and times, and the lab's comments, which reach FHIR through the R5
# cross-version extension DiagnosticReport.note), in the sections' own words.
NARRATIVE_STATUS = "extensions"
PDF_ONLY = (
    "Ce compte rendu n'a pas de partie structurée : son contenu est le document PDF "
    "joint, qui fait foi."
)
_TS = re.compile(r"([0-9]{4})([0-9]{2})?([0-9]{2})?(?:([0-9]{2})([0-9]{2}))?")
_SEX = {"male": "masculin", "female": "féminin", "other": "indéterminé", "unknown": "inconnu"}


def report_text(
    doc: CdaDocument, effective: tuple[str, Any] | None, ctx: MappingContext
) -> dict[str, str]:
    """DiagnosticReport.text of the document; `effective` is the report's collection time."""
    header = doc.header
    writer = XhtmlWriter(header.language)
    writer.element("h1", header.title or "Compte rendu d'examens de biologie médicale")
    _header_table(writer, doc, effective, ctx)
    if doc.non_xml_body is not None:
        writer.element("p", PDF_ONLY)
    narratives = [s.narrative for s in _all_sections(doc.sections) if s.narrative is not None]
    context = NarrativeContext(narratives, lambda: _media(doc))
    if any(n.has_footnote_refs for n in narratives):
        number_footnotes(context)
    for section in doc.sections:
        _section(writer, section, 2, context, ctx)
    return {"status": NARRATIVE_STATUS, "div": writer.result()}


# Header ---------------------------------------------------------------------


def _header_table(
    writer: XhtmlWriter, doc: CdaDocument, effective: tuple[str, Any] | None, ctx: MappingContext
) -> None:
    header = doc.header
    rows: list[tuple[str, str]] = []
    patient = header.patient
    if patient is not None:
        names = "; ".join(n for n in map(_person, patient.names) if n)
        rows.append(("Patient", names or "(nom non renseigné)"))
        for ii in patient.ids:
            kind = identifier_type(ii.root)
            if kind is not None and kind.code.startswith("INS") and ii.extension:
                rows.append((f"INS ({kind.display})", ii.extension))
        birth = _written_time(patient.birth_time)
        if birth:
            rows.append(("Date de naissance", birth))
        if patient.gender is not None and patient.gender.code:
            rows.append(("Sexe", _SEX[GENDER.get(patient.gender.code, "unknown")]))
    labs = _labs(doc)
    if labs:
        rows.append(("Laboratoire", "; ".join(filter(None, map(_organization, labs)))))
    custodian = header.custodian
    if custodian is not None and custodian.name and custodian.name not in {o.name for o in labs}:
        rows.append(("Structure dépositaire", _organization(custodian) or custodian.name))
    for p in header.participants:
        if p.type_code == "REF":
            rows.append(("Prescripteur", _entity(p.entity)))
    legal = header.legal_authenticator
    if legal is not None:
        signed = legal.time and _written_time(legal.time.value or legal.time.low)
        who = _entity(legal.entity)
        if signed:
            who = f"{who}, le {signed}"
        rows.append(("Biologiste responsable", who))
    orders = [i.extension for i in header.order_ids if i.extension]
    if orders:
        rows.append(("Demande", ", ".join(orders)))
    if effective is not None:
        rows.append(("Prélèvement", _when(effective)))
    if ctx.issued:
        rows.append(("Compte rendu du", french_date(ctx.issued)))
    writer.start("table", (("summary", "Patient, laboratoire, prescripteur et dates"),))
    writer.start("tbody")
    for label, value in rows:
        writer.start("tr")
        writer.element("th", label, (("scope", "row"), ("align", "left")))
        writer.element("td", value)
        writer.end("tr")
    writer.end("tbody")
    writer.end("table")


def _labs(doc: CdaDocument) -> list[Organization]:
    """The executing laboratory (serviceEvent performers), else the authors' organisations."""
    found: dict[str, Organization] = {}
    performers = [p.entity for e in doc.header.service_events for p in e.performers]
    for entity in performers or [a.entity for a in doc.header.authors]:
        org = entity.organization
        if org is not None and org.name and org.name not in found:
            found[org.name] = org
    return list(found.values())


def _organization(org: Organization | None) -> str | None:
    if org is None or not org.name:
        return None
    city = next((a.city for a in org.addresses if a.city), None)
    return f"{org.name} ({city})" if city else org.name


def _entity(entity: Entity) -> str:
    """A person with the organisation they represent."""
    parts = [_person(entity.person), _organization(entity.organization)]
    return ", ".join(p for p in parts if p) or "(non renseigné)"


def _person(name: PersonName | None) -> str | None:
    """Prefix, first names, FAMILY NAME; a used name after the birth name."""
    texts = []
    for human in human_names(name):
        text = human.get("text") or " ".join(
            [*human.get("prefix", ()), *human.get("given", ()), human.get("family", "")]
        )
        text = " ".join(text.split())
        if text:
            texts.append(f"{text} (nom utilisé)" if human.get("use") == "usual" else text)
    return ", ".join(texts) or None


def french_date(value: str) -> str:
    """A FHIR date or dateTime as French readers write it, in the time zone it was given.

    >>> french_date("2024-10-01T14:55:21+02:00"), french_date("1980-02-14"), french_date("2024-10")
    ('01/10/2024 à 14:55', '14/02/1980', '10/2024')
    """
    day, _, time = value.partition("T")
    parts = day.split("-")
    written = "/".join(reversed(parts))
    return f"{written} à {time[:5]}" if time else written


def _written_time(ts: str | None) -> str | None:
    """A CDA timestamp shown as written, in French (no conversion, so no second warning
    about a time the mappers already report).

    >>> _written_time("20241001145521+0200"), _written_time("19800214"), _written_time("x")
    ('01/10/2024 à 14:55', '14/02/1980', None)
    """
    match = _TS.match(ts or "")
    if match is None:
        return None
    year, month, day, hour, minute = match.groups()
    day_text = "/".join(p for p in (day, month, year) if p)
    return f"{day_text} à {hour}:{minute}" if hour and minute else day_text


def _when(effective: tuple[str, Any]) -> str:
    kind, value = effective
    if kind == "effectivePeriod":
        return f"du {french_date(value['start'])} au {french_date(value['end'])}"
    return french_date(value)


# Sections -------------------------------------------------------------------


def _section(
    writer: XhtmlWriter,
    section: Section,
    level: int,
    context: NarrativeContext,
    ctx: MappingContext,
) -> None:
    title = section.title or (section.code.display_name if section.code else None)
    if title:
        writer.element(f"h{min(level, 6)}", title)
    if section.narrative is not None:
        write_narrative(writer, section.narrative, context)
        _report_dropped(section.narrative, context, ctx)
    for sub in section.sections:
        _section(writer, sub, level + 1, context, ctx)


def _report_dropped(narrative: Narrative, context: NarrativeContext, ctx: MappingContext) -> None:
    if narrative.flattened:
        ctx.issues.add(
            "narrative-sanitised",
            narrative.node,
            f"{narrative.flattened} narrative element(s) nested too deep: kept as text",
            severity="information",
        )
    if context.dropped:
        dropped = ", ".join(sorted(context.dropped)[:20])
        ctx.issues.add(
            "narrative-sanitised",
            narrative.node,
            "narrative markup FHIR does not allow was dropped, its text kept (a script's "
            f"or a style sheet's dropped too): {dropped}",
            input=dropped,
        )
        context.dropped.clear()


def _all_sections(sections: tuple[Section, ...]) -> Iterator[Section]:
    for section in sections:
        yield section
        yield from _all_sections(section.sections)


def _media(doc: CdaDocument) -> dict[str, str | None]:
    """observationMedia ID → media type, for renderMultiMedia placeholders."""
    found: dict[str, str | None] = {}

    def visit(entries: tuple[BodyEntry, ...]) -> None:
        for entry in entries:
            media = entry.media if isinstance(entry, AttachedDocument) else entry
            if isinstance(media, Media) and media.media_id:
                found[media.media_id] = media.content.media_type
            for attribute in ("media", "members", "nested"):
                inner = getattr(entry, attribute, ())
                if isinstance(inner, tuple):
                    visit(inner)

    for section in _all_sections(doc.sections):
        visit(section.entries)
    return found
