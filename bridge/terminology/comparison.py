"""May two results of a patient be compared? (brief §6 and the Ségur scenarios of §8)

- A code counts only with its code system; without one, nothing is compared.
- Results of different patients are never compared.
- A LOINC code of the JDV Circuit de la biologie with level 1 is comparable; level 2
  or 9 is not comparable on the code alone, and the clinician must be told to check
  the units, the reference ranges and the technique.
- A waiting code, a LOINC Biologie code outside the Circuit, a lab's local code:
  not comparable.
- Two results become comparable through conversion when the JDV links their codes
  (mass ⇔ moles) or when they share a code and their units convert under UCUM; a
  quantity whose unit is not UCUM (or has none) never converts.

Each verdict has a stable code (`VERDICTS`, published as the CodeSystem
`VERDICT_SYSTEM` by `bridge.results`) and the alert to show in French and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bridge.errors import ConversionRefused
from bridge.terminology.conceptmap import LOINC, JdvIndex
from bridge.terminology.conversion import primary_code, quantity_unit
from bridge.terminology.jdv import COMPARABILITY_RANK
from bridge.terminology.ucum import same_dimension

__all__ = [
    "ALERT",
    "ALERT_EN",
    "VERDICTS",
    "VERDICT_SYSTEM",
    "WAITING_CODE_SYSTEM",
    "Comparison",
    "cannot_convert",
    "compare",
    "not_convertible",
]

Verdict = Literal["comparable", "comparable-after-conversion", "not-comparable"]
VERDICT_SYSTEM = "https://crbio-bridge.org/fhir/CodeSystem/comparability-verdict"
WAITING_CODE_SYSTEM = "urn:oid:1.2.250.1.213.1.1.5.130"  # codes d'attente LOINC (ANS)

ALERT = (
    "Résultats non comparables sur la base du code (niveau de comparabilité {level} du JDV "
    "Circuit de la biologie) : vérifiez les unités, les valeurs de référence et la technique "
    "avant de les rapprocher."
)
ALERT_EN = (
    "Results not comparable on the code alone (JDV Circuit de la biologie comparability "
    "level {level}): check the units, the reference ranges and the technique before "
    "putting them side by side."
)
_CHECK = (
    "vérifiez les unités, les valeurs de référence et la technique",
    "check the units, the reference ranges and the technique",
)

# code → (display, French text, English text): one code per verdict
VERDICTS: dict[str, tuple[str, str, str]] = {
    "comparable": (
        "Comparable",
        "Résultats comparables (même analyse, même unité, niveau 1 du JDV).",
        "Comparable results (same analysis, same unit, JDV level 1).",
    ),
    "comparable-after-conversion": (
        "Comparable after conversion",
        "Résultats comparables après conversion d'unité (niveau 1 du JDV).",
        "Results comparable once converted to one unit (JDV level 1).",
    ),
    "level-2": ("Not comparable: JDV level 2", ALERT.format(level=2), ALERT_EN.format(level=2)),
    "level-9": (
        "Not evaluated: JDV level 9",
        ALERT.format(level=9).replace("non comparables", "non évalués"),
        ALERT_EN.format(level=9).replace("not comparable", "not evaluated"),
    ),
    "waiting-code": (
        "Waiting code",
        f"Code d'attente : résultats non comparables ; {_CHECK[0]}.",
        f"Waiting code: results not comparable; {_CHECK[1]}.",
    ),
    "outside-circuit": (
        "LOINC code outside the JDV Circuit de la biologie",
        f"Code LOINC hors du JDV Circuit de la biologie : non comparable ; {_CHECK[0]}.",
        f"LOINC code outside the JDV Circuit de la biologie: not comparable; {_CHECK[1]}.",
    ),
    "local-code": (
        "Local code",
        f"Code local du laboratoire : résultats non comparables ; {_CHECK[0]}.",
        f"Laboratory's local code: results not comparable; {_CHECK[1]}.",
    ),
    "no-code-system": (
        "Code without a code system",
        f"Code sans système de codage : jamais comparé ; {_CHECK[0]}.",
        f"Code without a code system: never compared; {_CHECK[1]}.",
    ),
    "different-analyses": (
        "Different analyses",
        f"Analyses différentes pour le JDV : non comparables ; {_CHECK[0]}.",
        f"Different analyses for the JDV: not comparable; {_CHECK[1]}.",
    ),
    "unit-not-convertible": (
        "Unit that cannot be converted",
        f"Unité non convertible (absente ou hors UCUM) : non comparable ; {_CHECK[0]}.",
        f"A unit that cannot be converted (none, or not UCUM): not comparable; {_CHECK[1]}.",
    ),
    "other-patient": (
        "Another patient",
        "Résultats de patients différents : jamais comparés.",
        "Results of different patients: never compared.",
    ),
    "no-result": (
        "No result",
        "Aucun résultat en cours de ce patient pour cette analyse : rien à comparer.",
        "No current result of this patient for this analysis: nothing to compare.",
    ),
}


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict, whether a conversion links the two, the JDV level and the alert to show."""

    verdict: Verdict
    convertible: bool
    level: str | None
    reason: str
    alert: str | None = None
    conversion: Literal["ucum", "jdv"] | None = None
    code: str = "comparable"  # the verdict's code in VERDICTS

    @property
    def comparable(self) -> bool:
        return self.verdict != "not-comparable"

    @property
    def text(self) -> str:
        """What the clinician reads, in French then English."""
        _, french, english = VERDICTS[self.code]
        return f"{french} / {english}"


def _not(
    reason: str,
    code: str,
    level: str | None = None,
    *,
    convertible: bool = False,
    conversion: Literal["ucum", "jdv"] | None = None,
) -> Comparison:
    alert = ALERT.format(level=level) if level in ("2", "9") else None
    return Comparison("not-comparable", convertible, level, reason, alert, conversion, code)


def compare(a: dict[str, Any], b: dict[str, Any], jdv: JdvIndex) -> Comparison:
    """Compare two Observations of the JDV's point of view."""
    subject_a, subject_b = (
        a.get("subject", {}).get("reference"),
        b.get("subject", {}).get("reference"),
    )
    if not subject_a or subject_a != subject_b:
        return _not("the results are not of the same patient", "other-patient")
    (system_a, code_a), (system_b, code_b) = primary_code(a), primary_code(b)
    if not system_a or not system_b or not code_a or not code_b:
        return _not("a code without its code system is never compared", "no-code-system")
    if system_a != LOINC or system_b != LOINC:
        waiting = WAITING_CODE_SYSTEM in (system_a, system_b)
        return _not(
            "a code that is not LOINC (waiting code, lab's local code) is not comparable",
            "waiting-code" if waiting else "local-code",
        )
    concept_a, concept_b = jdv.concept(code_a), jdv.concept(code_b)
    if concept_a is None or concept_b is None:
        outside = code_a if concept_a is None else code_b
        return _not(
            f"{outside} is not in the JDV Circuit de la biologie: not comparable",
            "outside-circuit",
        )
    levels = [c.comparability or "9" for c in (concept_a, concept_b)]
    level = max(levels, key=COMPARABILITY_RANK.__getitem__)
    same_unit, convertible = _units(a, b)
    if code_a == code_b:
        if level != "1":
            return _not(
                f"{code_a} has comparability level {level}",
                f"level-{level}",
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
                "comparable-after-conversion",
            )
        return _not(
            f"same code {code_a} but units that do not convert", "unit-not-convertible", level
        )
    linked = any(m.code == code_b for m in jdv.translate(LOINC, code_a))
    if not linked:
        return _not(
            f"{code_a} and {code_b} are different analyses for the JDV", "different-analyses"
        )
    if level != "1":
        return _not(
            f"{code_a} and {code_b} are linked by the JDV but have comparability level {level}",
            f"level-{level}",
            level,
            convertible=True,
            conversion="jdv",
        )
    if not _ucum_or_none(a) or not _ucum_or_none(b):
        return _not(
            f"{code_a} and {code_b} are linked by the JDV but a unit is not UCUM",
            "unit-not-convertible",
            level,
        )
    return Comparison(
        "comparable-after-conversion",
        True,
        level,
        f"{code_a} and {code_b} are the same analysis in two unit families",
        None,
        "jdv",
        "comparable-after-conversion",
    )


def cannot_convert(why: str) -> Comparison:
    """The verdict on a result that cannot be shown in the unit of the others."""
    return _not(why, "unit-not-convertible")


def not_convertible(comparison: Comparison, why: str) -> Comparison:
    """The verdict once a result of the pair could not be brought to the unit of the other
    (or of the series): whatever the codes allow, the values cannot be put side by side."""
    if not comparison.comparable:
        return comparison
    return _not(f"{comparison.reason}, but {why}", "unit-not-convertible", comparison.level)


def _units(a: dict[str, Any], b: dict[str, Any]) -> tuple[bool, bool]:
    """(same unit, convertible under UCUM) for two results.

    Two results without a quantity (a text, a code) have no unit to differ by; a
    quantity without a UCUM unit converts to nothing.
    """
    qa, qb = a.get("valueQuantity"), b.get("valueQuantity")
    if qa is None and qb is None:
        return True, True
    if not isinstance(qa, dict) or not isinstance(qb, dict):
        return False, False
    try:
        unit_a, unit_b = quantity_unit(qa), quantity_unit(qb)
        return unit_a == unit_b, unit_a == unit_b or same_dimension(unit_a, unit_b)
    except ConversionRefused:
        return False, False


def _ucum_or_none(observation: dict[str, Any]) -> bool:
    """No quantity, or a quantity with a UCUM unit."""
    q = observation.get("valueQuantity")
    if q is None:
        return True
    try:
        quantity_unit(q)
    except ConversionRefused:
        return False
    return True
