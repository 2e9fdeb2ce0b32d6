"""Code tables: OID → FHIR URI, CDA codes → FHIR codes.

The large reviewed tables are data files in `mappings/`; the small closed
enumerations of the CDA → FHIR mapping live here, next to the rule they serve.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

from bridge.caching import memoised
from bridge.datafiles import read_table

__all__ = [
    "ADDRESS_USE",
    "CODE_ABSENT",
    "DATA_ABSENT_REASON",
    "GENDER",
    "INTERPRETATION",
    "LOINC",
    "NOT_PERFORMED",
    "OBSERVATION_STATUS",
    "SNOMED",
    "TELECOM_USE",
    "UCUM",
    "IdentifierType",
    "data_absent_reason",
    "identifier_type",
    "interpretation_display",
    "loinc_check_digit_ok",
    "system_for_name",
    "system_uri",
]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
URI_RFC3986 = "urn:ietf:rfc:3986"

# statusCode of a result → Observation.status (brief §3). "obsolete" also gets a note.
OBSERVATION_STATUS = {
    "completed": "final",
    "active": "registered",
    "aborted": "cancelled",
    "obsolete": "cancelled",
    "nullified": "entered-in-error",
    "cancelled": "cancelled",
}

# administrativeGenderCode (2.16.840.1.113883.5.1) → Patient.gender
GENDER = {"M": "male", "F": "female", "U": "unknown", "UN": "other"}

# telecom/@use and addr/@use (HL7 v3 TelecommunicationAddressUse / PostalAddressUse)
TELECOM_USE = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "MC": "mobile",
    "PG": "mobile",
    "TMP": "temp",
    "BAD": "old",
}
ADDRESS_USE = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "TMP": "temp",
    "BAD": "old",
    "OLD": "old",
}

# Names recognised in @codeSystemName when @codeSystem is missing (brief §6)
_SYSTEM_NAMES = {
    "LOINC": LOINC,
    "SNOMED CT": SNOMED,
    "SNOMED-CT": SNOMED,
    "SNOMEDCT": SNOMED,
    "UCUM": UCUM,
}


@cache
def _oid_table() -> dict[str, str]:
    return {row["oid"]: row["uri"] for row in read_table("oid-uri.csv")}


@memoised(4096)
def system_uri(oid: str) -> str:
    """FHIR system URI for a code system OID; unknown OIDs become `urn:oid:<oid>` (brief §4).

    Memoised: every code and identifier of a document asks, mostly for the same few OIDs.
    """
    uri = _oid_table().get(oid)
    if uri is not None:
        return uri
    return oid if ":" in oid else f"urn:oid:{oid}"


def system_for_name(name: str | None) -> str | None:
    return _SYSTEM_NAMES.get(name.strip().upper()) if name else None


class IdentifierType(NamedTuple):
    system: str
    code: str
    display: str
    use: str


@cache
def _identifier_types() -> dict[str, IdentifierType]:
    return {
        row["oid"]: IdentifierType(
            row["type_system"], row["type_code"], row["type_display"], row["use"]
        )
        for row in read_table("identifier-types.csv")
    }


def identifier_type(oid: str | None) -> IdentifierType | None:
    """FR Core identifier type of a national identifier root (INS, IDNPS, IDNST)."""
    return _identifier_types().get(oid) if oid else None


@cache
def _data_absent_reasons() -> dict[str, tuple[str, str]]:
    return {
        row["nullFlavor"]: (row["code"], row["display"])
        for row in read_table("nullflavor-data-absent-reason.csv")
    }


NOT_PERFORMED = {
    "coding": [{"system": DATA_ABSENT_REASON, "code": "not-performed", "display": "Not Performed"}]
}
# A code that is missing altogether: Observation.code is required, so it says why it is empty
CODE_ABSENT = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "unknown",
        }
    ]
}


def data_absent_reason(null_flavor: str) -> dict:
    """nullFlavor → dataAbsentReason CodeableConcept (HL7 C-CDA on FHIR map)."""
    code, display = _data_absent_reasons().get(null_flavor, ("unknown", "Unknown"))
    return {"coding": [{"system": DATA_ABSENT_REASON, "code": code, "display": display}]}


@cache
def _interpretations() -> dict[str, str]:
    return {row["code"]: row["display"] for row in read_table("interpretation-codes.csv")}


def interpretation_display(code: str | None) -> str | None:
    """Display of a v3 ObservationInterpretation code; None when outside the value set."""
    return _interpretations().get(code) if code else None


_LOINC_SHAPE = re.compile(r"^[0-9]{1,7}-[0-9]$")


@memoised(4096)  # a report repeats its LOINC codes (translations, earlier results)
def loinc_check_digit_ok(code: str) -> bool:
    """True when a LOINC code's check digit (mod 10, LOINC Users' Guide) matches.

    >>> loinc_check_digit_ok("2345-7"), loinc_check_digit_ok("53094-9")
    (True, True)
    >>> loinc_check_digit_ok("53094-5")
    False
    """
    if not _LOINC_SHAPE.match(code):
        return False
    base, _, check = code.partition("-")
    reversed_digits = base[::-1]
    odd = reversed_digits[0::2][::-1]
    even = reversed_digits[1::2][::-1]
    total = sum(int(d) for d in even + str(int(odd) * 2))
    return (10 - total % 10) % 10 == int(check)
