"""What the JDV seed answers offline: correspondences and French labels of analyses.

The seed (`mappings/jdv-circuit-biologie-seed.csv`, rows of the brief, each with
its source) answers the converter's two questions: a result coded C gives a second
value in unit U; which LOINC code does that value carry? And what is the French
label of the analysis coded C, when the document names it nowhere? The terminology
layer answers both from the full imported JDV and can be passed to `convert()`.
"""

from __future__ import annotations

from functools import cache

from bridge.datafiles import read_table
from bridge.mapping.codes import LOINC
from bridge.mapping.units import read_unit

__all__ = ["seed_correspondence", "seed_label"]


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


def seed_label(code: str) -> str | None:
    """The JDV French label of the analysis coded `code` (LOINC), when the seed has it.

    >>> seed_label("40193-5")
    'Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique'
    """
    row = _rows().get(code)
    return row["label_fr"] or None if row is not None else None
