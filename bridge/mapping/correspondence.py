"""JDV correspondences known offline: which LOINC codes the same analysis in the other unit.

The seed (`mappings/jdv-circuit-biologie-seed.csv`, rows of the brief, each with
its source) answers the converter's one question: a result coded C gives a second
value in unit U; which LOINC code does that value carry? The terminology layer
answers the same question from the full imported JDV and can be passed to
`convert()` instead.
"""

from __future__ import annotations

from functools import cache

from bridge.datafiles import read_table
from bridge.mapping.codes import LOINC
from bridge.mapping.units import read_unit

__all__ = ["seed_correspondence"]


@cache
def _rows() -> dict[str, dict[str, str]]:
    return {row["loinc"]: row for row in read_table("jdv-circuit-biologie-seed.csv")}


def seed_correspondence(code: str, unit: str) -> dict[str, str] | None:
    """The LOINC coding of `code`'s correspondence when its UCUM unit is `unit`.

    >>> seed_correspondence("40193-5", "g/L")["code"]
    '53049-3'
    >>> seed_correspondence("40193-5", "mg/dL") is None
    True
    """
    row = _rows().get(code)
    if row is None or not row["correspondence"]:
        return None
    target = _rows().get(row["correspondence"])
    ucum = read_unit(unit).code
    if target is None or not target["ucum_unit"] or ucum != target["ucum_unit"]:
        return None
    return {"system": LOINC, "code": target["loinc"], "display": target["label_fr"]}
