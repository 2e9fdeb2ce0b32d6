"""The JDV Circuit de la biologie: its rows, from the reviewed seed or the official spreadsheet.

One row per (prescribed exam, result-bearing analysis); an analysis appears on as
many rows as it has prescription contexts (brief §5). Rows are merged per LOINC
code before they become a ConceptMap.

The spreadsheet is read by header names, never by column letters: the ANS adds,
moves and renames columns between releases (2024 replaced column W and added AA
and AB). Header text is compared without case, accents or punctuation, and a
header may carry extra words after the expected ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from bridge.datafiles import read_table
from bridge.errors import JdvFormatError

__all__ = [
    "COMPARABILITY_MEANING",
    "COMPARABILITY_RANK",
    "JdvRow",
    "merge_rows",
    "read_spreadsheet",
    "seed_rows",
]

# JDV comparability levels, from most to least comparable: 1, then 9, then 2
COMPARABILITY_RANK = {"1": 0, "9": 1, "2": 2}
COMPARABILITY_MEANING = {"1": "comparable", "2": "not comparable", "9": "not evaluated"}


@dataclass(frozen=True, slots=True)
class JdvRow:
    """One result-bearing analysis of the JDV (columns S to AB, and AK)."""

    loinc: str  # S
    label: str  # T libellé français de référence
    print_label: str | None = None  # U libellé d'édition
    comparability: str | None = None  # V niveau minimum de comparabilité: 1, 2 or 9
    restricted: bool | None = None  # W liste restreinte (top 200)
    recommended_unit: str | None = None  # X
    ucum_unit: str | None = None  # Y
    systematic: bool | None = None  # Z présence systématique dans le CR
    correspondence: str | None = None  # AA the same analysis in the other unit family
    factor: Decimal | None = None  # AB from this row's unit to the correspondence's unit
    factor_official: bool = True  # False for a factor derived from a molar mass
    waiting_codes: tuple[str, ...] = ()  # AK codes d'attente
    chapter: str | None = None
    chapter_label: str | None = None
    source: str = ""
    contexts: tuple[str, ...] = field(default=(), compare=False)  # prescribed exams


def seed_rows() -> list[JdvRow]:
    """Rows of `mappings/jdv-circuit-biologie-seed.csv` (from the brief, each with its source)."""
    rows = []
    for raw in read_table("jdv-circuit-biologie-seed.csv"):
        rows.append(
            JdvRow(
                loinc=raw["loinc"],
                label=raw["label_fr"],
                comparability=raw["comparability"] or None,
                restricted=_flag(raw["restricted"]),
                recommended_unit=raw["recommended_unit"] or None,
                ucum_unit=raw["ucum_unit"] or None,
                correspondence=raw["correspondence"] or None,
                factor=Decimal(raw["factor"]) if raw["factor"] else None,
                factor_official=raw["factor_official"] != "no",
                source=raw["source"],
            )
        )
    return rows


# Spreadsheet -------------------------------------------------------------------

# field → the header it is read from (normalised), and whether the import needs it
COLUMNS: dict[str, tuple[str, bool]] = {
    "loinc": ("loinc", True),
    "label": ("libelles francais de reference", True),
    "print_label": ("libelles d edition", False),
    "comparability": ("niveau minimum de comparabilite", True),
    "restricted": ("liste restreinte", False),
    "recommended_unit": ("unite recommandee", False),
    "ucum_unit": ("unite ucum", True),
    "systematic": ("presence systema", False),
    "correspondence": ("correspondance", True),
    "factor": ("facteur de conversion", True),
    "waiting_codes": ("codes bio attente", False),
    "chapter": ("chapitre loinc", False),
    "chapter_label": ("libelles chapitres loinc", False),
}
CONTEXT_COLUMN = "libelle de la demande"
ANALYSIS_GROUP = "analyses porteuses de resultat"
_HEADER_SCAN_ROWS = 20


def normalise(text: Any) -> str:
    """No case, accents nor punctuation: "Libellés d'édition" → "libelles d edition"."""
    if text is None:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def read_spreadsheet(path: Path, *, source: str | None = None) -> list[JdvRow]:
    """Rows of the official JDV workbook (the first sheet whose headers match).

    Raises:
        JdvFormatError: the file is not an .xlsx workbook, or no sheet has the expected
            headers (the message names the columns that are missing).
    """
    # imported here: only the import command needs openpyxl
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, ValueError) as exc:
        # openpyxl refuses another suffix (InvalidFileException), a file that is not a zip
        # (BadZipFile) or a zip without a workbook in it (KeyError)
        raise JdvFormatError(
            f"{path.name} is not an Excel workbook (.xlsx) openpyxl can read ({exc}); "
            "save the JDV Circuit de la biologie as .xlsx and import that file"
        ) from exc
    try:
        best_missing: list[str] | None = None
        for sheet in workbook.worksheets:
            lines = sheet.iter_rows(values_only=True)
            head = [tuple(r) for _, r in zip(range(_HEADER_SCAN_ROWS), lines, strict=False)]
            found = _find_header(head)
            if isinstance(found, list):
                if best_missing is None or len(found) < len(best_missing):
                    best_missing = found
                continue
            header_index, columns = found
            label = source or f"JDV Circuit de la biologie, {path.name}, sheet {sheet.title!r}"
            body = (tuple(r) for r in head[header_index + 1 :])
            # openpyxl yields every row from the sheet's first (blank ones too), so the
            # first data row is the sheet's row header_index + 2 (rows count from 1)
            return list(_rows(chain(body, lines), columns, label, first=header_index + 2))
        missing = best_missing or [header for header, _ in COLUMNS.values()]
        raise JdvFormatError(
            f"{path.name}: no sheet has the JDV Circuit de la biologie headers; missing columns: "
            + ", ".join(_display(m) for m in missing)
        )
    finally:
        workbook.close()


def _display(normalised_header: str) -> str:
    for name, (header, _) in COLUMNS.items():
        if header == normalised_header:
            return f"{header!r} ({name})"
    return repr(normalised_header)


def _find_header(head: list[tuple]) -> tuple[int, dict[str, int]] | list[str]:
    """The header row and the column of each field, or the required headers missing."""
    group_start = 0
    best: list[str] | None = None
    for index, row in enumerate(head):
        cells = [normalise(c) for c in row]
        if any(ANALYSIS_GROUP in c for c in cells):
            group_start = next(i for i, c in enumerate(cells) if ANALYSIS_GROUP in c)
            continue
        columns: dict[str, int] = {}
        for name, (header, _) in COLUMNS.items():
            matches = [i for i, c in enumerate(cells) if c == header or c.startswith(header + " ")]
            # "LOINC" names the prescribed exam and the analysis: take the analysis's one
            analysis = [i for i in matches if i >= group_start] or matches
            if analysis:
                columns[name] = analysis[-1] if name == "loinc" else analysis[0]
        context = [i for i, c in enumerate(cells) if c.startswith(CONTEXT_COLUMN)]
        if context:
            columns["context"] = context[0]
        missing = [
            header for name, (header, needed) in COLUMNS.items() if needed and name not in columns
        ]
        if not missing:
            return index, columns
        if best is None or len(missing) < len(best):
            best = missing
    return best if best is not None else [h for h, needed in COLUMNS.values() if needed]


def _rows(
    lines: Iterable[tuple], columns: dict[str, int], source: str, *, first: int
) -> Iterator[JdvRow]:
    """Rows of the sheet; `first` is the spreadsheet row number of the first line."""

    def cell(row: tuple, name: str) -> Any:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else None

    for number, row in enumerate(lines, first):
        loinc = _text(cell(row, "loinc"))
        if not loinc or not re.fullmatch(r"\d{1,7}-\d", loinc):
            continue  # blank lines, group titles, notes under the table
        context = _text(cell(row, "context"))
        yield JdvRow(
            loinc=loinc,
            label=_text(cell(row, "label")) or loinc,
            print_label=_text(cell(row, "print_label")),
            comparability=_level(cell(row, "comparability")),
            restricted=_flag(cell(row, "restricted")),
            recommended_unit=_text(cell(row, "recommended_unit")),
            ucum_unit=_text(cell(row, "ucum_unit")),
            systematic=_flag(cell(row, "systematic")),
            correspondence=_text(cell(row, "correspondence")),
            factor=_decimal(cell(row, "factor")),
            waiting_codes=tuple(re.split(r"[\s,;]+", _text(cell(row, "waiting_codes")) or ""))
            if _text(cell(row, "waiting_codes"))
            else (),
            chapter=_text(cell(row, "chapter")),
            chapter_label=_text(cell(row, "chapter_label")),
            source=f"{source}, row {number}",
            contexts=(context,) if context else (),
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text or None


def _level(value: Any) -> str | None:
    """The level as written ("1", "2", "9"; anything else is reported by `merge_rows`)."""
    return _text(value)


def _flag(value: Any) -> bool | None:
    """O/N columns. "0" is read as "O": the letter and the digit are mixed up in ANS extracts."""
    text = (_text(value) or "").upper()
    if text in ("O", "OUI", "Y", "YES", "0"):
        return True
    if text in ("N", "NON", "NO"):
        return False
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None


# Merging ------------------------------------------------------------------------


def merge_rows(rows: Iterable[JdvRow]) -> tuple[dict[str, JdvRow], list[str]]:
    """One row per analysis, and the disagreements found between its rows.

    An analysis listed in several prescription contexts should read the same on
    each row; when rows disagree on the comparability level, the least comparable
    level is kept (a wrong "comparable" is the dangerous mistake). A row without a
    comparability level (or with one outside 1, 2, 9) is reported and read as 9, "not
    evaluated": never as comparable, never silently.
    """
    merged: dict[str, JdvRow] = {}
    problems: list[str] = []
    for row in rows:
        if row.comparability not in COMPARABILITY_RANK:
            found = (
                "no comparability level"
                if row.comparability is None
                else f"comparability level {row.comparability!r} is not 1, 2 or 9"
            )
            problems.append(
                f"{row.loinc}: {found} ({row.source or 'no source'}); read as 9, not evaluated"
            )
            row = replace(row, comparability="9")
        known = merged.get(row.loinc)
        if known is None:
            merged[row.loinc] = row
            continue
        changes: dict[str, Any] = {"contexts": known.contexts + row.contexts}
        if row.comparability != known.comparability:
            worse = max(
                known.comparability or "9",
                row.comparability or "9",
                key=COMPARABILITY_RANK.__getitem__,
            )
            problems.append(
                f"{row.loinc}: comparability {known.comparability} and "
                f"{row.comparability} on different rows; {worse} kept"
            )
            changes["comparability"] = worse
        for name in ("correspondence", "factor", "ucum_unit"):
            mine, theirs = getattr(known, name), getattr(row, name)
            if mine is None and theirs is not None:
                changes[name] = theirs
            elif theirs is not None and theirs != mine:
                problems.append(
                    f"{row.loinc}: {name} {mine} and {theirs} on different rows; "
                    f"{mine} kept ({row.source})"
                )
        merged[row.loinc] = replace(known, **changes)
    return merged, problems
