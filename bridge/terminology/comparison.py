"""May two results of a patient be compared? (brief §6 and the Ségur scenarios of §8)

- A code counts only with its code system; without one, nothing is compared.
- Results of different patients are never compared.
- A LOINC code of the JDV Circuit de la biologie with level 1 is comparable; level 2
  or 9 is not comparable on the code alone, and the clinician must be told to check
  the units, the reference ranges and the technique.
- A waiting code, a LOINC Biologie code outside the Circuit, a lab's local code:
  not comparable.
- Two results become comparable through conversion when the JDV links their codes
  (mass ⇔ moles) or when they share a code and their units convert under UCUM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bridge.errors import ConversionRefused
from bridge.terminology.conceptmap import LOINC, JdvIndex
from bridge.terminology.conversion import primary_code, quantity_unit
from bridge.terminology.jdv import COMPARABILITY_RANK
from bridge.terminology.ucum import same_dimension

__all__ = ["ALERT", "Comparison", "compare"]

Verdict = Literal["comparable", "comparable-after-conversion", "not-comparable"]

ALERT = (
    "Résultats non comparables sur la base du code (niveau de comparabilité {level} du JDV "
    "Circuit de la biologie) : vérifiez les unités, les valeurs de référence et la technique "
    "avant de les rapprocher."
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict, whether a conversion links the two, the JDV level and the alert to show."""

    verdict: Verdict
    convertible: bool
    level: str | None
    reason: str
    alert: str | None = None
    conversion: Literal["ucum", "jdv"] | None = None

    @property
    def comparable(self) -> bool:
        return self.verdict != "not-comparable"


def _not(
    reason: str,
    level: str | None = None,
    *,
    convertible: bool = False,
    conversion: Literal["ucum", "jdv"] | None = None,
) -> Comparison:
    alert = ALERT.format(level=level) if level in ("2", "9") else None
    return Comparison("not-comparable", convertible, level, reason, alert, conversion)


def compare(a: dict[str, Any], b: dict[str, Any], jdv: JdvIndex) -> Comparison:
    """Compare two Observations of the JDV's point of view."""
    subject_a, subject_b = (
        a.get("subject", {}).get("reference"),
        b.get("subject", {}).get("reference"),
    )
    if not subject_a or subject_a != subject_b:
        return _not("the results are not of the same patient")
    (system_a, code_a), (system_b, code_b) = primary_code(a), primary_code(b)
    if not system_a or not system_b or not code_a or not code_b:
        return _not("a code without its code system is never compared")
    if system_a != LOINC or system_b != LOINC:
        return _not("a code that is not LOINC (waiting code, lab's local code) is not comparable")
    concept_a, concept_b = jdv.concept(code_a), jdv.concept(code_b)
    if concept_a is None or concept_b is None:
        outside = code_a if concept_a is None else code_b
        return _not(f"{outside} is not in the JDV Circuit de la biologie: not comparable")
    levels = [c.comparability or "9" for c in (concept_a, concept_b)]
    level = max(levels, key=COMPARABILITY_RANK.__getitem__)
    if code_a == code_b:
        same_unit, convertible = _units(a, b)
        if level != "1":
            return _not(
                f"{code_a} has comparability level {level}",
                level,
                convertible=convertible and not same_unit,
                conversion="ucum" if convertible and not same_unit else None,
            )
        if same_unit:
            return Comparison("comparable", False, level, f"same code {code_a}, same unit")
        if convertible:
            return Comparison(
                "comparable-after-conversion",
                True,
                level,
                f"same code {code_a}, units convert under UCUM",
                None,
                "ucum",
            )
        return _not(f"same code {code_a} but units that do not convert", level)
    linked = any(m.code == code_b for m in jdv.translate(LOINC, code_a))
    if not linked:
        return _not(f"{code_a} and {code_b} are different analyses for the JDV")
    if level != "1":
        return _not(
            f"{code_a} and {code_b} are linked by the JDV but have comparability level {level}",
            level,
            convertible=True,
            conversion="jdv",
        )
    return Comparison(
        "comparable-after-conversion",
        True,
        level,
        f"{code_a} and {code_b} are the same analysis in two unit families",
        None,
        "jdv",
    )


def _units(a: dict[str, Any], b: dict[str, Any]) -> tuple[bool, bool]:
    """(same unit, convertible under UCUM) for two quantities; (False, False) otherwise."""
    qa, qb = a.get("valueQuantity"), b.get("valueQuantity")
    if not isinstance(qa, dict) or not isinstance(qb, dict):
        return False, False
    try:
        unit_a, unit_b = quantity_unit(qa), quantity_unit(qb)
        return unit_a == unit_b, unit_a == unit_b or same_dimension(unit_a, unit_b)
    except ConversionRefused:
        return False, False
