"""Units as written by French labs → UCUM codes, or None when no UCUM unit is meant.

First the reviewed alias table (`mappings/unit-aliases.csv`: `G/L` is giga per
litre, never gauss per litre), then a few spelling rules (`µ` → `u`, `UI` →
`[IU]`, `²` → `2`), then the UCUM grammar of ucumvert decides. Parses are
memoised: a unit costs a millisecond the first time and nothing afterwards.

The grammar is built once per process, under a lock (a build run by two threads at
once was seen to fail inside lark). Only the grammar's own verdict, "this is not
UCUM", makes a unit text-only: any other failure is a bug and propagates, so that a
g/L result is never stored without its UCUM code because something broke inside.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple

from bridge.caching import built_once, memoised
from bridge.datafiles import read_table

__all__ = ["UnitReading", "read_unit"]


class UnitReading(NamedTuple):
    """`code` is the UCUM code (None when the unit is not UCUM); `aliased` when it was rewritten."""

    code: str | None
    aliased: bool


_SPELLINGS = (
    (re.compile("[µμ]"), "u"),
    (re.compile("²"), "2"),
    (re.compile("³"), "3"),
    (re.compile(r"10\^"), "10*"),
    # "UI" (unités internationales), alone or after a prefix: UI/L, mUI/L, µUI/mL
    (re.compile(r"(?<![A-Za-z\[])([munpfkcd]?)UI(?![A-Za-z\]])"), r"\1[IU]"),
)


@cache
def _aliases() -> dict[str, str]:
    return {row["written"]: row["ucum"] for row in read_table("unit-aliases.csv")}


@built_once
def ucum_parser() -> Any:
    """ucumvert's lark parser of the UCUM grammar, shared by every thread."""
    from ucumvert import get_ucum_parser  # imported on first use: building the grammar is slow

    return get_ucum_parser()


# UCUM atoms a lab report uses. The grammar alone accepts units that mean something else
# in a lab: "G/L" gauss, "pH" picohenry, "AU/mL" astronomical units, "u" atomic mass units.
CLINICAL_ATOMS = frozenset(
    {
        "g",
        "mol",
        "L",
        "l",
        "eq",
        "osm",
        "kat",
        "U",
        "[IU]",
        "[iU]",
        "[arb'U]",
        "[USP'U]",
        "[CFU]",
        "[pH]",
        "s",
        "min",
        "h",
        "d",
        "wk",
        "mo",
        "a",
        "m",
        "m[Hg]",
        "m[H2O]",
        "Pa",
        "Cel",
        "K",
        "%",
        "[ppm]",
        "[ppb]",
        "[ppth]",
        "[HPF]",
        "[LPF]",
        "[drp]",
        "10*",
        "10^",
        "[ka'U]",
        "[todd]",
        "[beth'U]",
        "[MPL'U]",
        "[GPL'U]",
        "[APL'U]",
    }
)
# Prefixes of lab units; M, G and T are kept out: in French reports they are counts
# ("G/L" = 10*9/L) or capitalised milli, never mega-, giga- or tera- units.
CLINICAL_PREFIXES = frozenset({"m", "u", "n", "p", "f", "a", "d", "c", "k", "da", "h"})
MAX_UNIT_LENGTH = 64  # the grammar costs per character; no real unit is longer


@memoised(4096)
def is_ucum(code: str) -> bool:
    """True when `code` parses under the UCUM grammar with clinical atoms and prefixes only.

    >>> is_ucum("m[IU]/L"), is_ucum("mL/min/{1.73_m2}"), is_ucum("g/(24.h)")
    (True, True, True)
    >>> is_ucum("MG/L"), is_ucum("Mg/L"), is_ucum("pH"), is_ucum("AU/mL"), is_ucum("u")
    (False, False, False, False, False)
    """
    if not code or code.isspace() or len(code) > MAX_UNIT_LENGTH:
        return False
    from lark.exceptions import UnexpectedInput
    from ucumvert.parser import InvalidUcumError, parse_ucum

    try:
        tree = parse_ucum(code, ucum_parser())
    except (InvalidUcumError, UnexpectedInput):  # the grammar's verdict: not a UCUM unit
        return False
    for token in tree.scan_values(lambda value: hasattr(value, "type")):
        if token.type in ("UNIT_METRIC", "UNIT_NON_METRIC") and token not in CLINICAL_ATOMS:
            return False
        if token.type in ("PREFIX_SHORT", "PREFIX_LONG") and token not in CLINICAL_PREFIXES:
            return False
    return True


@memoised(4096)
def read_unit(written: str) -> UnitReading:
    """The UCUM code meant by a unit as written in a CDA document.

    >>> read_unit("g/L")
    UnitReading(code='g/L', aliased=False)
    >>> read_unit("G/L")
    UnitReading(code='10*9/L', aliased=True)
    >>> read_unit("µmol/L")
    UnitReading(code='umol/L', aliased=True)
    >>> read_unit("mUI/L")
    UnitReading(code='m[IU]/L', aliased=True)
    >>> read_unit("unités")
    UnitReading(code=None, aliased=False)
    """
    unit = written.strip()
    if len(unit) > MAX_UNIT_LENGTH:
        return UnitReading(None, False)
    alias = _aliases().get(unit)
    if alias is not None:
        return UnitReading(alias, True)
    respelled = unit
    for pattern, replacement in _SPELLINGS:
        respelled = pattern.sub(replacement, respelled)
    if is_ucum(respelled):
        return UnitReading(respelled, respelled != unit)
    return UnitReading(None, False)
