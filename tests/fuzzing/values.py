"""Odd values for the fuzz target: blank, huge, exotic, and of the kind each attribute takes.

A value is most often drawn for the attribute it goes into (a timestamp for `value`,
a unit for `unit`, an OID for `root`…), at the edges that real producers reach: year
9999, leap seconds, offsets of ±14 hours, 40-digit decimals, decimal commas, units that
are almost UCUM, and blank characters around or inside them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bridge.cda import templates
from tests.helpers import BLANK_SAMPLES

__all__ = ["ATTRIBUTES", "TEMPLATE_IDS", "XSI_TYPES", "odd_value"]

# Strings a careless or hostile producer writes where a value belongs
ODD_VALUES = (
    *BLANK_SAMPLES,
    " x ",
    "\u00a0mg/L\u00a0",
    "a  b",
    "a\t\tb",
    "é" * 300,
    "😀🧪",
    "\u202eLTR",
    "Ω̈́",
    "x" * 70,
    "0,5",
    "1,234.5",
    "1.234,5",
    "1e400",
    "-1e-400",
    "1E+30",
    "NaN",
    "Infinity",
    "-0",
    "+",
    ".",
    "1..2",
    "0x10",
    "٣٫٥",
    "99999999999999999999999999",
    "2147483648",
    "-2147483649",
    "< 5",
    ">=",
    "<= 0,5",
    "20251340",
    "00000000",
    "0001",
    "9999",
    "999912",
    "99991231235959+1400",
    "00010101000000-1400",
    "20250101120000-9999",
    "20250229",
    "2025031210",
    "202503121015",
    "20250312101500.123456789+0100",
    "2025-03-12",
    "T",
    "true",
    "false",
    "TRUE",
    "null",
    "NI",
    "TRC",
    "mg/dL",
    "G/L",
    "µmol/L",
    "10^9/L",
    "10*12/L",
    "[IU]",
    "mUI/L",
    "mL/min/{1.73_m2}",
    "Cel",
    "[pH]",
    "g/(24.h)",
    "g2",
    "%",
    "1",
    "11502-2",
    "718-7",
    "2345-7",
    "40193-5",
    "53049-3",
    "2.16.840.1.113883.6.1",
    "2.16.840.1.113883.6.96",
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.71.4.2.1",
    "6b1f3c5e-2d0a-5c8e-9f41-0c6a3e1d2b7f",
    "urn:oid:1.2.3",
    "http://loinc.org",
    "#",
    "#missing",
    "application/pdf",
    "text/plain",
    "B64",
    "TXT",
    "REFR",
    "COMP",
    "BATTERY",
    "CLUSTER",
    "completed",
    "active",
    "aborted",
    "obsolete",
    "nullified",
    "EVN",
    "<",
    "&",
    '"',
    "]]>",
)
ATTRIBUTES = (
    "code",
    "codeSystem",
    "codeSystemName",
    "displayName",
    "value",
    "unit",
    "root",
    "extension",
    "assigningAuthorityName",
    "nullFlavor",
    "typeCode",
    "classCode",
    "moodCode",
    "ID",
    "mediaType",
    "representation",
    "use",
    "qualifier",
    "inclusive",
    "currency",
)
XSI_TYPES = (
    "PQ",
    "IVL_PQ",
    "CD",
    "CE",
    "CV",
    "CO",
    "CS",
    "ST",
    "SC",
    "ED",
    "INT",
    "REAL",
    "BL",
    "TS",
    "IVL_TS",
    "RTO",
    "RTO_PQ_PQ",
    "RTO_INT_INT",
    "ANY",
    "MO",
    "",
    " ",
    "x:PQ",
    "PQ ",
    "ivl_pq",
    "hl7:CD",
)
TEMPLATE_IDS = tuple(
    value
    for name, value in vars(templates).items()
    if name.isupper() and not name.endswith("_CODE") and isinstance(value, str)
) + tuple(
    template_id
    for value in vars(templates).values()
    if isinstance(value, tuple)
    for template_id in value
)


def odd_value(rng: random.Random, attribute: str | None = None) -> str:
    """An odd value, most often one of the kind `attribute` takes (a time, a unit…)."""
    if rng.random() < 0.02:
        return rng.choice(("x", "9", " ", "\u00a0", "é")) * rng.choice((1000, 100_000, 1_100_000))
    kind = _KINDS.get(attribute or "") if rng.random() < 0.7 else None
    if kind is not None:
        return kind(rng)
    if rng.random() < 0.1:
        alphabet = " \t\u00a0\u200b0123456789.,-+eE:/*[]{}()^µa"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
    return rng.choice(ODD_VALUES)


def _blank(rng: random.Random) -> str:
    return "".join(
        rng.choice(" \t\n\u00a0\u2007\u202f\u200b\ufeff\u3000") for _ in range(rng.randint(0, 4))
    )


def _around(rng: random.Random, text: str) -> str:
    """`text`, sometimes with blank characters around or inside it."""
    if rng.random() < 0.3:
        return _blank(rng) + text + _blank(rng)
    if rng.random() < 0.1 and len(text) > 1:
        at = rng.randrange(1, len(text))
        return text[:at] + _blank(rng) + text[at:]
    return text


def _timestamp(rng: random.Random) -> str:
    """HL7 timestamps at every precision, at the edges of the calendar and of time zones."""
    year = rng.choice(
        ("0000", "0001", "1900", "1970", "2024", "2025", "9999", "99999"[: rng.randint(1, 5)])
    )
    parts = [
        year,
        rng.choice(("01", "02", "12", "13", "00")),
        rng.choice(("01", "28", "29", "30", "31", "32", "00")),
        rng.choice(("00", "12", "23", "24")),
        rng.choice(("00", "30", "59", "60")),
        rng.choice(("00", "59", "60", "61")),
    ]
    written = "".join(parts[: rng.randint(1, 6)])
    if rng.random() < 0.2:
        written += "." + "1234567890"[: rng.randint(1, 10)]
    if rng.random() < 0.7:
        written += rng.choice(
            ("+0100", "-0500", "+1400", "-1400", "+1500", "-0060", "Z", "+01", "+01:00")
        )
    return _around(rng, written)


def _number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((1, 2, 3, 17, 19, 40))))
    written = rng.choice(("", "-", "+", "< ", ">=", "<=", "> ")) + digits
    if rng.random() < 0.5:
        written += rng.choice((".", ",")) + "".join(
            rng.choice("0123456789") for _ in range(rng.choice((0, 1, 2, 17, 18)))
        )
    if rng.random() < 0.15:
        written += (
            rng.choice(("e", "E"))
            + rng.choice(("", "-", "+"))
            + str(rng.choice((0, 1, 30, 31, 400, 99999999)))
        )
    return _around(rng, written)


UNIT_ATOMS = (
    "g",
    "mol",
    "L",
    "l",
    "U",
    "[IU]",
    "UI",
    "%",
    "h",
    "min",
    "m",
    "Cel",
    "[pH]",
    "10*9",
    "10^9",
    "G",
    "T",
    "{cells}",
    "µ",
    "eq",
    "[CFU]",
    "mm[Hg]",
    "1",
    "/",
    "xyz",
    "µg",
)


def _unit(rng: random.Random) -> str:
    atoms = [
        rng.choice(("", "m", "u", "µ", "n", "p", "k", "M")) + rng.choice(UNIT_ATOMS)
        for _ in range(rng.randint(1, 3))
    ]
    if rng.random() < 0.3:
        atoms = [a + rng.choice(("2", "3", "-1", "99")) for a in atoms]
    return _around(rng, rng.choice(("/", ".", " / ", "")).join(atoms))


def _code(rng: random.Random) -> str:
    return _around(
        rng,
        rng.choice(
            (
                "11502-2",
                "96173-0",
                "718-7",
                "2345-7",
                "2345-8",
                "40193-5",
                "53049-3",
                "1-8",
                "N",
                "H",
                "LL",
                "A",
                "M",
                "F",
                "UN",
                "completed",
                "X Y",
                "48767-8",
                "55108-5",
                "11475-1",
                "",
            )
        ),
    )


def _oid(rng: random.Random) -> str:
    return _around(
        rng,
        rng.choice(
            TEMPLATE_IDS
            + (
                "2.16.840.1.113883.6.1",
                "2.16.840.1.113883.6.96",
                "1.2.250.1.213.1.4.8",
                "1.2.250.1.213.1.4.10",
                "1.2.250.1.71.4.2.1",
                "1.2.250.1.71.4.2.2",
                "6B1F3C5E-2D0A-5C8E-9F41-0C6A3E1D2B7F",
                "urn:oid:1.2",
                "1.2.3",
                "http://loinc.org",
                "a:b",
                "",
            )
        ),
    )


_KINDS: dict[str, Callable[[random.Random], str]] = {
    "value": lambda rng: rng.choice((_timestamp, _number))(rng),
    "unit": _unit,
    "code": _code,
    "codeSystem": _oid,
    "root": _oid,
    "extension": lambda rng: _around(rng, rng.choice(("2024.01", "2021.01", "1", "A-1", "é", ""))),
    "displayName": lambda rng: _around(rng, rng.choice(("Glucose", "é", "😀", "", "a  b"))),
    "nullFlavor": lambda rng: _around(
        rng, rng.choice(("NI", "UNK", "NA", "TRC", "OTH", "MSK", ""))
    ),
    "typeCode": lambda rng: rng.choice(
        ("REFR", "COMP", "SUBJ", "PRD", "AUTHEN", "DEV", "PRF", "RPLC", "")
    ),
    "classCode": lambda rng: rng.choice(("BATTERY", "CLUSTER", "OBS", "ACT", "")),
    "mediaType": lambda rng: _around(
        rng, rng.choice(("application/pdf", "image/jpeg", "text/plain", "x", ""))
    ),
    "representation": lambda rng: rng.choice(("B64", "TXT", "b64", "")),
    "inclusive": lambda rng: rng.choice(("true", "false", "", "TRUE", "1")),
    "ID": lambda rng: _around(rng, rng.choice(("label-1", "label-2", "x", ""))),
}
