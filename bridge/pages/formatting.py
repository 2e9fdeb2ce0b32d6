"""How the pages write FHIR values for a French GP: dates, decimals, names, codes.

- Dates keep the wall-clock time the lab wrote (its offset is not converted to the
  server's zone): "15/01/2025 à 07:50"; partial dates stay partial ("01/2025").
- Decimals keep the digits the lab wrote ("0.70" → "0,70"), with a decimal comma.
- Names as French practice software shows them: FAMILY Given.
Every function takes what the store returns (dicts, Decimals) and returns text; the
templates escape it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

__all__ = [
    "INS_SYSTEMS",
    "coding_label",
    "display_unit",
    "format_date",
    "format_decimal",
    "format_ins",
    "format_quantity",
    "format_range",
    "format_value",
    "gender_label",
    "interpretation",
    "observation_label",
    "patient_ins",
    "patient_name",
]

# INS identifier systems (brief §3): NIR, NIA, test and demonstration NIR
INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR de test",
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR de démonstration",
}

_GENDERS = {"female": "Femme", "male": "Homme", "other": "Autre", "unknown": "Inconnu"}

# v3 ObservationInterpretation code → (French label, abnormal: shown emphasised)
INTERPRETATIONS: dict[str, tuple[str, bool]] = {
    "N": ("Normal", False),
    "L": ("Bas", True),
    "H": ("Élevé", True),
    "LL": ("Très bas", True),
    "HH": ("Très élevé", True),
    "LU": ("Très bas", True),
    "HU": ("Très élevé", True),
    "A": ("Anormal", True),
    "AA": ("Très anormal", True),
    "S": ("Sensible", False),
    "I": ("Intermédiaire", True),
    "R": ("Résistant", True),
    "SDD": ("Sensible dose-dépendant", True),
    "NS": ("Non sensible", True),
    "POS": ("Positif", True),
    "NEG": ("Négatif", False),
    "DET": ("Détecté", True),
    "ND": ("Non détecté", False),
    "IND": ("Indéterminé", True),
    "E": ("Équivoque", True),
}

# data-absent-reason code → French (http://terminology.hl7.org/CodeSystem/data-absent-reason)
ABSENT_REASONS = {
    "unknown": "Inconnu",
    "asked-unknown": "Inconnu",
    "temp-unknown": "Pas encore connu",
    "not-asked": "Non demandé",
    "asked-declined": "Refusé",
    "masked": "Masqué",
    "not-applicable": "Non applicable",
    "unsupported": "Non pris en charge",
    "as-text": "Voir le texte",
    "error": "Valeur illisible dans le compte rendu",
    "not-a-number": "Non numérique",
    "negative-infinity": "Valeur infiniment basse",
    "positive-infinity": "Valeur infiniment haute",
    "not-performed": "Non réalisé",
    "not-permitted": "Non autorisé",
}
# Observation.status → what the value cell says when the result is not a current one
RESULT_STATUSES = {
    "registered": "En attente",
    "cancelled": "Annulé",
    "entered-in-error": "Saisi par erreur",
}

_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<hh>\d{2}):(?P<mm>\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def format_date(value: Any, *, time: bool = True) -> str:
    """A FHIR date or dateTime in French: 15/01/2025 à 07:50, 01/2025, 2025.

    >>> format_date("2025-01-15T07:50:00+01:00")
    '15/01/2025 à 07:50'
    >>> format_date("2025-01-15T07:50:00+01:00", time=False)
    '15/01/2025'
    >>> format_date("2025-03")
    '03/2025'
    """
    if not isinstance(value, str):
        return ""
    found = _DATE.match(value.strip())
    if found is None:
        return value
    y, m, d, hh, mm = found.group("y", "m", "d", "hh", "mm")
    if m is None:
        return y
    if d is None:
        return f"{m}/{y}"
    if hh is None or not time:
        return f"{d}/{m}/{y}"
    return f"{d}/{m}/{y} à {hh}:{mm}"


def format_decimal(value: Any) -> str:
    """A number as the lab wrote it, with a decimal comma; from five digits on, its
    thousands apart (a narrow no-break space, as French reports print 100 000).

    >>> format_decimal(Decimal("0.70")), format_decimal(132), format_decimal(7200)
    ('0,70', '132', '7200')
    >>> format_decimal(Decimal("100000")) == "100\u202f000"
    True
    """
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value)
    sign, digits, decimals = _NUMBER.match(text).groups()  # type: ignore[union-attr]
    if len(digits) >= 5:
        digits = f"{int(digits):,}".replace(",", "\u202f")
    return f"{sign}{digits}{decimals.replace('.', ',')}"


_NUMBER = re.compile(r"^([+-]?)(\d*)(.*)$", re.DOTALL)


_COMPARATORS = {"<": "<", "<=": "≤", ">=": "≥", ">": ">", "ad": ""}


_MICRO = re.compile(r"(?<![A-Za-z\]])u(?=(?:g|mol|L|l|m|U|\[|kat|eq|s)(?![a-z]))")
_POWER = re.compile(r"10\*([0-9]+)")
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def display_unit(unit: str) -> str:
    """A unit as a French lab report prints it, when it was written in UCUM's ASCII
    (the lab's own spelling, µmol/L or UI/L, is kept): µ for u, UI for [IU], 10⁹ for
    10*9, m² for m2, annotations without their braces ({CFU}/mL), none for a lone one.

    >>> [display_unit(u) for u in ("umol/L", "m[IU]/L", "10*9/L", "mL/min/{1.73_m2}")]
    ['µmol/L', 'mUI/L', '10⁹/L', 'mL/min/1,73 m²']
    >>> [display_unit(u) for u in ("{ratio}", "U/L", "mmol/L", "{CFU}/mL")]
    ['', 'U/L', 'mmol/L', 'CFU/mL']
    """
    if re.fullmatch(r"\{[^{}]*\}", unit.strip()):
        return ""
    text = re.sub(r"\{([^{}]*)\}", r"\1", unit)
    text = _MICRO.sub("µ", text).replace("[IU]", "UI").replace("[iU]", "UI")
    text = _POWER.sub(lambda m: "10" + m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"(\d)\.(\d+)_m2\b", r"\1,\2 m²", text)
    return re.sub(r"(?<=[A-Za-z])2\b", "²", text) if text.endswith("m2") else text


def _unit(quantity: dict[str, Any]) -> str:
    """The unit as the lab wrote it, shown the French way (see display_unit)."""
    return display_unit(str(quantity.get("unit") or quantity.get("code") or ""))


def format_quantity(quantity: Any) -> str:
    """5,30 mmol/L; ≤ 0,25 mg/L (a comparator kept).

    >>> format_quantity({"value": Decimal("0.25"), "comparator": "<=", "unit": "mg/L"})
    '≤ 0,25 mg/L'
    """
    if not isinstance(quantity, dict) or "value" not in quantity:
        return ""
    comparator = _COMPARATORS.get(quantity.get("comparator", ""), "")
    text = f"{comparator} {format_decimal(quantity['value'])}".strip()
    unit = _unit(quantity)
    return f"{text} {unit}" if unit else text


def format_range(reference: Any) -> str:
    """A reference range: 3,50 – 6,10 mmol/L, < 5 mg/L, > 60, or its text.

    Bounds a lab system exported with a fixed six decimals ("63.000000") are shown as
    its printed report shows them: trailing zeros past the second decimal left out.

    >>> format_range({"low": {"value": Decimal("63.000000")}, "high": {"value": Decimal("0.0032")}})
    '63,00 – 0,0032'
    """
    if not isinstance(reference, dict):
        return ""
    low, high = reference.get("low"), reference.get("high")
    unit = _unit(high or low or {})
    if low and high:
        text = f"{_bound(low)} – {_bound(high)}"
    elif high:
        text = f"< {_bound(high)}"
    elif low:
        text = f"> {_bound(low)}"
    else:
        return str(reference.get("text") or "")
    return f"{text} {unit}".strip()


def _bound(quantity: dict[str, Any]) -> str:
    value = quantity.get("value")
    if isinstance(value, Decimal) and value.is_finite() and int(value.as_tuple().exponent) < -3:
        trimmed = value.normalize()  # 63.000000 → 63, 0.003200 → 0.0032
        if int(trimmed.as_tuple().exponent) > -2:
            trimmed = value.quantize(Decimal("0.01"))  # two decimals kept: 63.00
        value = trimmed
    return format_decimal(value)


def coding_label(concept: Any) -> str:
    """A CodeableConcept's text, else its first display, else its first code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", ()):
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding", ()):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def observation_label(observation: dict[str, Any]) -> str:
    return coding_label(observation.get("code")) or "Analyse sans libellé"


def format_value(observation: dict[str, Any]) -> str:
    """The result as the lab gave it, whatever its FHIR type (a result withdrawn or not
    yet given says so: "Annulé", "En attente")."""
    status = observation.get("status")
    if status in RESULT_STATUSES and _absent_reason(observation) != "not-performed":
        return RESULT_STATUSES[status]  # a withdrawn result says so, never "Inconnu"
    if "valueQuantity" in observation:
        return format_quantity(observation["valueQuantity"])
    if "valueString" in observation:
        return str(observation["valueString"])
    if "valueCodeableConcept" in observation:
        return coding_label(observation["valueCodeableConcept"])
    if "valueInteger" in observation:
        return str(observation["valueInteger"])
    if "valueBoolean" in observation:
        return "Oui" if observation["valueBoolean"] else "Non"
    if "valueRange" in observation:
        return format_range(observation["valueRange"])
    if "valueRatio" in observation:
        ratio = observation["valueRatio"]
        numerator, denominator = ratio.get("numerator"), ratio.get("denominator")
        return f"{format_quantity(numerator)} / {format_quantity(denominator)}"
    if "valueDateTime" in observation:
        return format_date(observation["valueDateTime"])
    if "dataAbsentReason" in observation:
        code = _absent_reason(observation)
        return (
            ABSENT_REASONS[code]
            if code
            else coding_label(observation["dataAbsentReason"]) or "Absent"
        )
    return ""


def _absent_reason(observation: dict[str, Any]) -> str | None:
    """The dataAbsentReason code this page knows, if any."""
    reason = observation.get("dataAbsentReason") or {}
    return next(
        (c["code"] for c in reason.get("coding", ()) if c.get("code") in ABSENT_REASONS), None
    )


def interpretation(observation: dict[str, Any]) -> tuple[str, bool]:
    """The lab's interpretation in French, and whether it flags an abnormal result."""
    labels, abnormal = [], False
    for concept in observation.get("interpretation", ()):
        for coding in concept.get("coding", ()):
            label, flag = INTERPRETATIONS.get(coding.get("code", ""), ("", False))
            labels.append(label or coding.get("display") or coding.get("code", ""))
            abnormal |= flag
            break
        else:
            labels.append(coding_label(concept))
    return ", ".join(filter(None, labels)), abnormal


def _name(name: dict[str, Any]) -> str:
    if name.get("text") and not name.get("family"):
        return str(name["text"])
    given = " ".join(name.get("given", ()))
    return " ".join(filter(None, [name.get("family", ""), given])) or "(sans nom)"


def patient_name(patient: dict[str, Any]) -> str:
    """FAMILY Given of the official name (else the first)."""
    names = patient.get("name") or []
    if not names:
        return "(sans nom)"
    official = next((n for n in names if n.get("use") == "official"), names[0])
    return _name(official)


def format_ins(value: str) -> str:
    """A 15-digit NIR in its usual groups: 2 75 01 69 123 456 18.

    >>> format_ins("275016912345618")
    '2 75 01 69 123 456 18'
    """
    if len(value) != 15 or not value.isalnum():
        return value
    parts = (value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:])
    return " ".join(parts)


def patient_ins(patient: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, formatted INS) of the patient's INS identifier, if any."""
    for identifier in patient.get("identifier", ()):
        kind = INS_SYSTEMS.get(identifier.get("system", ""))
        if kind and identifier.get("value"):
            return kind, format_ins(str(identifier["value"]))
    return None


def gender_label(gender: Any) -> str:
    return _GENDERS.get(str(gender), "")
