"""What the report pages show: a report's header, its PDF copy, its narrative and results.

Everything comes from the store as the converter wrote it: the header from the
report's references (performer, results interpreter, the order's requester), the
narrative from `DiagnosticReport.text`, the results from its Observations (batteries
with their members, indented). The PDF copy is the report's `presentedForm`, stored
as a Binary.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from bridge.mapping.templates.lab_observation import WITHDRAWN_NOTE
from bridge.mapping.templates.observation_parts import REPLACED_NOTE
from bridge.pages.formatting import (
    coding_label,
    format_date,
    format_range,
    format_value,
    interpretation,
    observation_label,
)
from bridge.pages.narrative import safe_narrative
from bridge.results.reports import all_matches, observations_of
from bridge.results.series import CURRENT_STATUSES
from bridge.store import ResourceDeleted, ResourceNotFound, Store, parse_query
from bridge.terminology.conceptmap import LOINC

__all__ = [
    "Attachment",
    "ReportView",
    "attached_pdf",
    "ResultRow",
    "chapters",
    "effective",
    "history_code",
    "pdf_copy",
    "reference_display",
    "report_view",
    "result_rows",
]

STATUSES = {
    "registered": "Enregistré (résultats en attente)",
    "partial": "Partiel (résultats en attente)",
    "preliminary": "Préliminaire",
    "final": "Validé",
    "amended": "Modifié (remplace une version antérieure)",
    "corrected": "Corrigé",
    "appended": "Complété",
    "cancelled": "Annulé",
    "entered-in-error": "Saisi par erreur",
}
_CONVERTER_NOTES = {
    REPLACED_NOTE: "Remplacé par un autre examen (résultat annulé par le laboratoire)"
}
NOTE_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
_LAB_CATEGORY = {"LAB", "laboratory"}


@dataclass(frozen=True, slots=True)
class ResultRow:
    depth: int  # 0 for a report's result, 1 for a battery's member…
    label: str
    value: str
    reference: str
    interpretation: str
    abnormal: bool
    code: str | None  # system|code of its history page; None when it has no code system
    is_group: bool  # a battery or isolate heading its members
    notes: tuple[str, ...] = ()
    also: tuple[tuple[str, str], ...] = ()  # the same result in the lab's second unit
    method: str = ""  # the technique (methodCode): the alerts ask the GP to check it


@dataclass(frozen=True, slots=True)
class Attachment:
    """A PDF the report carries besides its own copy (a second-line lab's report)."""

    id: str  # the DocumentReference's id
    title: str


@dataclass(frozen=True, slots=True)
class ReportView:
    id: str
    patient_id: str | None
    title: str
    status: str
    effective: str
    issued: str
    lab: str
    biologist: str
    prescriber: str
    chapters: list[str]
    has_pdf: bool
    narrative: Markup | None
    rows: list[ResultRow]
    notes: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def history_code(observation: dict[str, Any]) -> str | None:
    """system|code naming the analysis (LOINC first); None without a code system."""
    codings = [c for c in observation.get("code", {}).get("coding", ()) if c.get("system")]
    codings.sort(key=lambda c: c["system"] != LOINC)
    for coding in codings:
        if coding.get("code"):
            return f"{coding['system']}|{coding['code']}"
    return None


def _has_value(observation: dict[str, Any]) -> bool:
    return any(key.startswith("value") for key in observation) or "dataAbsentReason" in observation


def _row(observation: dict[str, Any], depth: int, *, linked: bool = True) -> ResultRow:
    flag, abnormal = interpretation(observation)
    ranges = [format_range(r) for r in observation.get("referenceRange", ())]
    value = format_value(observation)
    group = bool(observation.get("hasMember")) and not _has_value(observation)
    current = observation.get("status") in CURRENT_STATUSES  # one that a series can hold
    return ResultRow(
        depth=depth,
        label=observation_label(observation),
        value=value,
        reference=" ; ".join(filter(None, ranges)),
        interpretation=flag,
        abnormal=abnormal,
        code=history_code(observation) if current and linked and not group else None,
        is_group=group,
        notes=_notes(observation),
        method=coding_label(observation.get("method")),
        also=tuple(
            (format_value(c), " ; ".join(format_range(r) for r in c.get("referenceRange", ())))
            for c in observation.get("component", ())
            if "valueQuantity" in c
        ),
    )


def _notes(observation: dict[str, Any]) -> tuple[str, ...]:
    """The lab's comments, in its words; the converter's own notes in French, and never
    the value of a withdrawn result (a GP would read it beside the valid one)."""
    notes = []
    for note in observation.get("note", ()):
        text = note.get("text")
        if not text or text.startswith(WITHDRAWN_NOTE):
            continue
        notes.append(_CONVERTER_NOTES.get(text, text))
    return tuple(notes)


def result_rows(report: dict[str, Any], observations: dict[str, dict[str, Any]]) -> list[ResultRow]:
    """The report's results in its order, each battery followed by its members.

    What belongs to an isolate (an Observation with a value, the organism, and members:
    its count, its antibiogram) links to no history: a series of one MIC code mixes every
    organism ever tested, and would draw E. coli's "resistant" beside a streptococcus's
    "sensitive" as if one germ changed.
    """
    rows: list[ResultRow] = []

    def walk(references: list[dict[str, Any]], depth: int, linked: bool) -> None:
        for reference in references:
            found = observations.get(reference.get("reference", "").partition("/")[2])
            if found is None or depth > 8:
                continue
            rows.append(_row(found, depth, linked=linked))
            isolate = bool(found.get("hasMember")) and _has_value(found)
            walk(found.get("hasMember", []), depth + 1, linked and not isolate)

    walk(report.get("result", []), 0, True)
    return rows


def reference_display(references: Any, prefix: str = "") -> str:
    """The display of the first reference whose target starts with `prefix`."""
    for reference in references or ():
        if reference.get("reference", "").startswith(prefix) and reference.get("display"):
            return str(reference["display"])
    return ""


def _prescriber(store: Store, report: dict[str, Any]) -> str:
    for reference in report.get("basedOn", ()):
        kind, _, identifier = reference.get("reference", "").partition("/")
        if kind != "ServiceRequest":
            continue
        try:
            order = store.read("ServiceRequest", identifier).resource()
        except (ResourceNotFound, ResourceDeleted):
            continue
        requester = order.get("requester") or {}
        if requester.get("display"):
            return str(requester["display"])
    return ""


def _pdf_form(report: dict[str, Any]) -> dict[str, Any] | None:
    for form in report.get("presentedForm", ()):
        if form.get("contentType", "").startswith("application/pdf"):
            if form.get("data") or str(form.get("url", "")).startswith("Binary/"):
                return dict(form)
    return None


def pdf_copy(store: Store, report: dict[str, Any]) -> bytes | None:
    """The report's PDF copy (its presentedForm, inline or in a Binary), if any."""
    form = _pdf_form(report)
    if form is None:
        return None
    if form.get("data"):
        return base64.b64decode(form["data"]) or None
    return _binary(store, form["url"].partition("/")[2])


def _binary(store: Store, binary_id: str) -> bytes | None:
    """A stored Binary's bytes (None when it is gone or empty)."""
    try:
        data = store.read("Binary", binary_id).resource().get("data")
    except (ResourceNotFound, ResourceDeleted):
        return None
    return base64.b64decode(data or "") or None


def _attached_pdfs(store: Store, report_id: str) -> list[tuple[dict[str, Any], str]]:
    """(DocumentReference, Binary id) of each PDF attached to the report: documents whose
    context names it, other than the CR-BIO document itself (it has a masterIdentifier)."""
    query = parse_query(
        "DocumentReference",
        [("related", f"DiagnosticReport/{report_id}"), ("status", "current")],
    )
    found = []
    for stored in all_matches(store, query):
        document = stored.resource()
        if "masterIdentifier" in document:
            continue
        for content in document.get("content", ()):
            attachment = content.get("attachment", {})
            url = str(attachment.get("url", ""))
            if attachment.get("contentType", "").startswith("application/pdf") and url.startswith(
                "Binary/"
            ):
                found.append((document, url.partition("/")[2]))
                break
    return found


def attachments(store: Store, report_id: str) -> list[Attachment]:
    return [
        Attachment(document["id"], document.get("description") or "Document PDF joint")
        for document, _ in _attached_pdfs(store, report_id)
    ]


def attached_pdf(store: Store, report_id: str, document_id: str) -> bytes | None:
    """The bytes of one PDF attached to the report (None: no such attachment of it)."""
    for document, binary_id in _attached_pdfs(store, report_id):
        if document["id"] == document_id:
            return _binary(store, binary_id)
    return None


def effective(resource: dict[str, Any]) -> str | None:
    """effectiveDateTime, or the start of effectivePeriod."""
    return resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")


def chapters(report: dict[str, Any]) -> list[str]:
    """The report's chapters (Biochimie, Hématologie…): its categories other than lab."""
    labels = []
    for category in report.get("category", ()):
        codes = {c.get("code") for c in category.get("coding", ())}
        if not codes & _LAB_CATEGORY:
            labels.append(coding_label(category))
    return [label for label in labels if label]


def report_view(store: Store, report: dict[str, Any]) -> ReportView:
    observations = observations_of(store, [report])
    subject = report.get("subject", {}).get("reference", "")
    notes = [report["conclusion"]] if report.get("conclusion") else []
    notes += [
        ext["valueAnnotation"]["text"]
        for ext in report.get("extension", ())
        if ext.get("url") == NOTE_EXTENSION and ext.get("valueAnnotation", {}).get("text")
    ]
    return ReportView(
        id=report["id"],
        patient_id=subject.partition("/")[2] if subject.startswith("Patient/") else None,
        title=coding_label(report.get("code")) or "Compte rendu de biologie",
        status=STATUSES.get(report.get("status", ""), report.get("status", "")),
        effective=format_date(effective(report)),
        issued=format_date(report.get("issued")),
        lab=reference_display(report.get("performer"), "Organization/"),
        biologist=reference_display(report.get("resultsInterpreter")),
        prescriber=_prescriber(store, report),
        chapters=chapters(report),
        has_pdf=_pdf_form(report) is not None,
        narrative=safe_narrative((report.get("text") or {}).get("div")),
        rows=result_rows(report, observations),
        notes=notes,
        attachments=attachments(store, report["id"]),
    )
