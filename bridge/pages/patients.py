"""Finding a patient (by name or INS) and listing a patient's reports, newest first.

Both are the store's FHIR searches (`Patient?name=…`, `Patient?identifier=…`,
`DiagnosticReport?patient=…&_sort=-date`), paged with the store's keyset cursors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.pages.formatting import (
    coding_label,
    format_date,
    gender_label,
    patient_ins,
    patient_name,
)
from bridge.pages.reports import (
    STATUSES,
    ResultRow,
    chapters,
    effective,
    reference_display,
    result_rows,
)
from bridge.results.reports import observations_of
from bridge.store import Store, parse_query

__all__ = ["PatientView", "ReportSummary", "find_patients", "patient_reports", "patient_view"]

PATIENTS_PER_PAGE = 25
REPORTS_PER_PAGE = 20
# A NIR or NIA typed with or without spaces (Corsican départements 2A/2B)
_INS = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8}$")


@dataclass(frozen=True, slots=True)
class PatientView:
    id: str
    name: str
    birth_date: str
    gender: str
    ins: tuple[str, str] | None  # (kind, formatted number)

    @property
    def born(self) -> str:
        return {"Femme": "née", "Homme": "né"}.get(self.gender, "né(e)")


@dataclass(frozen=True, slots=True)
class ReportSummary:
    id: str
    date: str
    title: str
    lab: str
    status: str
    chapters: list[str]
    has_pdf: bool
    analyses: list[ResultRow]


def patient_view(patient: dict[str, Any]) -> PatientView:
    return PatientView(
        id=patient["id"],
        name=patient_name(patient),
        birth_date=format_date(patient.get("birthDate")),
        gender=gender_label(patient.get("gender")),
        ins=patient_ins(patient),
    )


def search_terms(text: str) -> list[tuple[str, str]]:
    """Search parameters for what the user typed: an INS, else every word of a name.

    >>> search_terms("2 75 01 69 123 456 18")
    [('identifier', '275016912345618')]
    >>> search_terms("roussel marie")
    [('name', 'roussel'), ('name', 'marie')]
    """
    compact = "".join(text.split()).upper()
    if _INS.match(compact):
        return [("identifier", compact)]
    return [("name", word) for word in text.split()[:5]]


def find_patients(
    store: Store, text: str, cursor: str | None = None
) -> tuple[list[PatientView], str | None]:
    """Patients matching `text` (all, most recently received first, when empty)."""
    params = [*search_terms(text), ("_count", str(PATIENTS_PER_PAGE))]
    if not text.strip():
        params.append(("_sort", "-_lastUpdated"))
    if cursor:
        params.append(("_cursor", cursor))
    page = store.search(parse_query("Patient", params))
    return [patient_view(s.resource()) for s in page.matches], page.next_cursor


def patient_reports(
    store: Store, patient_id: str, cursor: str | None = None
) -> tuple[list[ReportSummary], str | None]:
    """The patient's reports, newest first, each with its results."""
    params = [
        ("patient", f"Patient/{patient_id}"),
        ("_sort", "-date"),
        ("_count", str(REPORTS_PER_PAGE)),
    ]
    if cursor:
        params.append(("_cursor", cursor))
    page = store.search(parse_query("DiagnosticReport", params))
    reports = [s.resource() for s in page.matches]
    observations = observations_of(store, reports)
    summaries = []
    for report in reports:
        summaries.append(
            ReportSummary(
                id=report["id"],
                date=format_date(effective(report)),
                title=coding_label(report.get("code")) or "Compte rendu de biologie",
                lab=reference_display(report.get("performer"), "Organization/"),
                status=STATUSES.get(report.get("status", ""), ""),
                chapters=chapters(report),
                has_pdf=bool(report.get("presentedForm")),
                analyses=result_rows(report, observations),
            )
        )
    return summaries, page.next_cursor
