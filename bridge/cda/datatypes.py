"""HL7 v3 data types as read from a CDA document.

Values keep the text exactly as written (a decimal "0.70" stays "0.70"); the
mapping layer decides what is valid. Every object keeps the lxml element it was
read from in `node` (never compared, never printed) so that a warning can name
its location.

The classes are slotted but not frozen: a frozen dataclass sets each field through
`object.__setattr__`, and a document is read into tens of thousands of these values
(31 M of the 309 M instructions of reading the 20 ANS examples). Nothing changes them
once read, and nothing hashes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BL",
    "CD",
    "ED",
    "II",
    "INT",
    "IVL_PQ",
    "IVL_TS",
    "NarrativePlace",
    "PQ",
    "PQR",
    "REAL",
    "RTO",
    "ST",
    "Surroundings",
    "TS",
    "Address",
    "NamePart",
    "NullValue",
    "PersonName",
    "Telecom",
    "UnknownValue",
    "Value",
]


def _node() -> Any:
    return field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class II:
    """Instance identifier: `root` (OID or UUID) and optional `extension`."""

    root: str | None
    extension: str | None = None
    null_flavor: str | None = None
    assigning_authority: str | None = None


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What surrounds a narrative element in its table."""

    cell_text: str | None = None  # the whole table cell holding the element
    # the other cells of its row: those left of the element's cell, nearest first (all of
    # them, left to right, when the element is a whole row)
    row_texts: tuple[str, ...] = ()
    column_header: str | None = None  # the header cell above the element's column


class NarrativePlace:
    """Where a narrative reference lands, for the codes whose text must name something.

    A result's `originalText` often points at the table cell that holds its value
    ("25 ug/L"), not at its label: the place gives what surrounds the target so that
    the mapping layer can find the label. Cells are located on the table's grid
    (colspan and rowspan counted), not by their position among their siblings.

    `text` is the referenced element's text: None when it is empty, or when it is a
    whole row (whose text runs its cells together: `row_texts` has them one by one).
    Both are worked out on first use: most references point at a label, and laying a
    table out for each would cost more than reading the table.
    """

    __slots__ = ("_read_text", "_find", "_text", "_found")

    def __init__(
        self, read_text: Callable[[], str | None], find: Callable[[], Surroundings]
    ) -> None:
        self._read_text = read_text
        self._find = find
        self._text: tuple[str | None] | None = None
        self._found: Surroundings | None = None

    @property
    def text(self) -> str | None:
        if self._text is None:
            self._text = (self._read_text(),)
        return self._text[0]

    def _surroundings(self) -> Surroundings:
        if self._found is None:
            self._found = self._find()
        return self._found

    @property
    def cell_text(self) -> str | None:
        return self._surroundings().cell_text

    @property
    def row_texts(self) -> tuple[str, ...]:
        return self._surroundings().row_texts

    @property
    def column_header(self) -> str | None:
        return self._surroundings().column_header

    def __repr__(self) -> str:
        return f"NarrativePlace({self.text!r}, {self._surroundings()!r})"


@dataclass(slots=True)
class CD:
    """A coded value (CD, CE, CV, CO, CS): code, system, display, original text, translations.

    `original_text_ref` is the narrative reference as written; `original_text` is the
    text it points to (None when the target is missing) or the literal text.
    `original_text_place` is filled for result codes only, when the target exists.
    """

    code: str | None
    code_system: str | None = None
    code_system_name: str | None = None
    display_name: str | None = None
    original_text: str | None = None
    original_text_ref: str | None = None
    translations: tuple[CD, ...] = ()
    null_flavor: str | None = None
    node: Any = _node()
    original_text_place: NarrativePlace | None = None


@dataclass(slots=True)
class PQR:
    """A PQ translation: the same quantity in another unit (`code` is the unit)."""

    value: str | None
    code: str | None
    code_system: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class PQ:
    """Physical quantity: `value` as written, UCUM `unit`, and 2021-style translations."""

    value: str | None
    unit: str | None = None
    translations: tuple[PQR, ...] = ()
    null_flavor: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class IVL_PQ:  # noqa: N801 - HL7 type name
    """Interval of quantities; a bound is closed unless `inclusive="false"`."""

    low: PQ | None
    high: PQ | None
    low_closed: bool = True
    high_closed: bool = True
    center: PQ | None = None
    null_flavor: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class TS:
    """Point in time as written (`YYYYMMDDhhmmss.ffff±HHMM`, any precision)."""

    value: str | None
    null_flavor: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class IVL_TS:  # noqa: N801 - HL7 type name
    """A time given as a point (`value`) or an interval (`low`/`high`)."""

    value: str | None = None
    low: str | None = None
    high: str | None = None
    null_flavor: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class ST:
    text: str
    node: Any = _node()


@dataclass(slots=True)
class ED:
    """Encapsulated data: inline text, or base64 with a media type, or a narrative reference."""

    text: str | None
    media_type: str | None = None
    representation: str | None = None
    reference: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class INT:
    value: str | None
    node: Any = _node()


@dataclass(slots=True)
class REAL:
    value: str | None
    node: Any = _node()


@dataclass(slots=True)
class BL:
    value: str | None
    node: Any = _node()


@dataclass(slots=True)
class RTO:
    """Ratio; numerator and denominator are quantities (an INT reads as a unitless PQ)."""

    numerator: PQ | None
    denominator: PQ | None
    node: Any = _node()


@dataclass(slots=True)
class NullValue:
    """A value element carrying only a nullFlavor."""

    null_flavor: str
    xsi_type: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class UnknownValue:
    """A value whose xsi:type is not one crbio-bridge reads; its text is kept."""

    xsi_type: str
    text: str | None = None
    node: Any = _node()


Value = PQ | IVL_PQ | CD | ST | ED | INT | REAL | BL | TS | RTO | NullValue | UnknownValue


@dataclass(slots=True)
class NamePart:
    kind: str  # family | given | prefix | suffix
    text: str
    qualifier: str | None = None


@dataclass(slots=True)
class PersonName:
    parts: tuple[NamePart, ...]
    use: str | None = None
    text: str | None = None  # a name given as plain text, without parts


@dataclass(slots=True)
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    district: str | None = None  # <county>: the INSEE code of a birthplace, for instance
    use: str | None = None


@dataclass(slots=True)
class Telecom:
    value: str
    use: str | None = None
