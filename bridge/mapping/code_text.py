"""Observation.code.text: a text that names the analysis, never the result.

In the ANS examples `code/originalText/reference` often points at the narrative cell
that holds the value (`<td><content ID="folates_01">25 ug/L</content></td>`): copied
as is, `code.text` would read "25 ug/L". The rule, where the first candidate that
names an analysis wins:

1. the narrative text the originalText points at (or the literal originalText);
2. when that target is empty (an anchor inside the label cell), its whole cell;
3. the other cells of its table row, nearest to the left first (the row
   "Folates | 25 ug/L | (5 - 35)" names the analysis in its first cell);
4. the header of the target's column, unless a generic one ("Résultats"): tables
   with one column per analysis;
5. the code's displayName (or the French display of a synchronised value set);
6. the JDV French label of the LOINC code (print label, else reference label);
7. nothing: `code.text` is left out.

A text names an analysis when it has a letter and is none of: the result's own
value (with or without its unit), its unit alone, a quantity (a number with an
optional comparator, range and unit: "25 ug/L", "< 1.0", "(5 - 35)", "1/80"), a
date, or an interpretation flag ("H", "N"…).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bridge.cda.datatypes import CD, ED, INT, IVL_PQ, PQ, REAL, ST, Value
from bridge.mapping.codes import LOINC, interpretation_display
from bridge.mapping.units import read_unit

if TYPE_CHECKING:
    from bridge.mapping.context import MappingContext

__all__ = ["Labels", "analysis_text", "names_analysis", "with_analysis_text"]

# LOINC code → the JDV French label of the analysis (None when the JDV lacks it)
Labels = Callable[[str], "str | None"]

_QUANTITY = re.compile(
    r"[(\[]?\s*(?:[<>≤≥]=?|=|~|±)?\s*[-+]?\d+(?:[  ]\d{3})*(?:[.,]\d+)?"  # 1.0, 100 000
    r"(?:\s*(?:-|–|à|/|:)\s*[-+]?\d+(?:[.,]\d+)?)?"  # a range or a titre: 5 - 35, 1/80
    r"\s*[)\]]?\s*(?P<unit>[^\s\d()\[\]][^\s]*)?\s*[)\]]?"
)
_DATE = re.compile(r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2})\b.*")
_LETTER = re.compile(r"[^\W\d_]")
# Column headers that say what a column holds, not which analysis (compared unaccented)
GENERIC_HEADERS = frozenset(
    {
        "resultat",
        "resultats",
        "resultat(s)",
        "valeur",
        "valeurs",
        "unite",
        "unites",
        "reference",
        "references",
        "valeur de reference",
        "valeurs de reference",
        "valeurs normales",
        "normes",
        "anteriorite",
        "anteriorites",
        "resultats anterieurs",
        "result",
        "results",
        "value",
        "values",
        "unit",
        "units",
        "reference range",
    }
)


def _folded(text: str) -> str:
    """Lower case, spaces collapsed: how a text is compared with the result's value."""
    return " ".join(text.casefold().split())


def _unaccented(text: str) -> str:
    """Folded, accents off: how a column header is compared with the generic ones."""
    decomposed = unicodedata.normalize("NFKD", _folded(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _ValueTexts:
    """The result's value as a narrative may print it, compared with `_folded`: listed on
    first use, since most candidate labels are told apart by their form alone."""

    __slots__ = ("_value", "_texts")

    def __init__(self, value: Value | None) -> None:
        self._value = value
        self._texts: frozenset[str] | None = None

    def __contains__(self, text: str) -> bool:
        if self._texts is None:
            self._texts = _value_texts(self._value)
        return text in self._texts


def _value_texts(value: Value | None) -> frozenset[str]:
    texts: list[str | None] = []
    if isinstance(value, PQ):
        texts += [value.value, value.unit]
        if value.value and value.unit:
            texts += [f"{value.value} {value.unit}", f"{value.value}{value.unit}"]
    elif isinstance(value, IVL_PQ):
        for bound in (value.low, value.high):
            if bound is not None:
                texts += [bound.value, bound.unit]
    elif isinstance(value, CD):
        texts += [value.code, value.display_name, value.original_text]
    elif isinstance(value, ST | ED):
        texts.append(value.text)
    elif isinstance(value, INT | REAL):
        texts.append(value.value)
    return frozenset(_folded(t) for t in texts if t)


def _is_quantity(text: str, value_texts: _ValueTexts) -> bool:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return False
    unit = match["unit"]
    return unit is None or _folded(unit) in value_texts or read_unit(unit).code is not None


def names_analysis(text: str | None, value: Value | None = None) -> bool:
    """Whether `text` can name an analysis (see the module's rule).

    >>> names_analysis("Folates"), names_analysis("25 ug/L"), names_analysis("(5 - 35)")
    (True, False, False)
    >>> names_analysis("25-OH vitamine D"), names_analysis("H"), names_analysis("12/03/2025")
    (True, False, False)
    """
    return _names_analysis(text, _ValueTexts(value))


def _names_analysis(text: str | None, value_texts: _ValueTexts) -> bool:
    if not text or _LETTER.search(text) is None:
        return False
    stripped = text.strip()
    if _is_quantity(stripped, value_texts) or _is_unit(stripped) or _DATE.fullmatch(stripped):
        return False
    return interpretation_display(stripped) is None and _folded(stripped) not in value_texts


def _is_unit(text: str) -> bool:
    """A unit alone ("mmol/L", "10*9/L"); a word of letters only ("K", "Na") may be a label."""
    if text.isalpha() or " " in text:
        return False
    return read_unit(text).code is not None


def _candidates(cd: CD) -> Iterator[tuple[str | None, bool]]:
    """(text, is a column header) in the order of the rule, from the code's narrative place:
    one at a time, so that a table is laid out only when the target names nothing."""
    place = cd.original_text_place
    if place is None:  # a literal originalText, or a reference to nothing
        yield cd.original_text, False
        return
    yield place.text, False
    if not place.text:
        yield place.cell_text, False
    for text in place.row_texts:
        yield text, False
    yield place.column_header, True


def analysis_text(
    cd: CD | None,
    value: Value | None,
    code: dict[str, Any] | None,
    labels: Labels | None,
) -> str | None:
    """The text that names the analysis of a result coded `cd` (see the module's rule).

    `code` is the CodeableConcept already built from `cd` (its first coding's display
    is the displayName, or a synchronised French display); `labels` gives JDV labels.
    """
    value_texts = _ValueTexts(value)
    if cd is not None:
        for text, header in _candidates(cd):
            if not _names_analysis(text, value_texts):
                continue
            if header and _unaccented(text or "") in GENERIC_HEADERS:
                continue
            return " ".join(text.split())  # type: ignore[union-attr]
    codings = code.get("coding", ()) if code else ()
    display = codings[0].get("display") if codings else None
    if _names_analysis(display, value_texts):
        return display
    if labels is not None:
        for coding in codings:
            if coding.get("system") == LOINC:
                label = labels(coding["code"])
                if _names_analysis(label, value_texts):
                    return label
    return None


def with_analysis_text(
    code: dict[str, Any] | None, cd: CD | None, value: Value | None, ctx: MappingContext
) -> dict[str, Any] | None:
    """`code` (a result's CodeableConcept, or None) with `text` set by the rule, or removed
    when nothing names the analysis; None when nothing is left (FHIR has no empty object:
    the caller says the code is absent)."""
    text = analysis_text(cd, value, code, ctx.labels)
    if text is None:
        if code is not None:
            code.pop("text", None)
        return code or None
    if code is None:
        return {"text": text}
    code["text"] = text
    return code
