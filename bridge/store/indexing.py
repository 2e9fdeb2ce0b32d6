"""Search parameters, and the index rows a resource gives for them (pure functions).

`SEARCH_PARAMETERS` declares, per resource type, each supported FHIR search
parameter: its type and the elements it reads. `index_rows()` turns one resource
into rows for the index tables of `schema.py`; `date_range()` turns a FHIR date
into the half-open range of epoch microseconds it stands for.
"""

from __future__ import annotations

import calendar
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from bridge.caching import memoised
from bridge.errors import ConversionRefused

__all__ = [
    "MAX_TIME",
    "MIN_TIME",
    "SEARCH_PARAMETERS",
    "IndexRows",
    "SearchParameter",
    "canonical_quantity",
    "date_range",
    "index_rows",
    "indexed_names",
    "param_code",
]

Kind = Literal["token", "reference", "date", "quantity", "string"]
MIN_TIME = -(2**62)
MAX_TIME = 2**62


@dataclass(frozen=True, slots=True)
class SearchParameter:
    name: str
    kind: Kind
    paths: tuple[str, ...]  # dotted element paths; "effective" reads effective[x]
    target: str | None = None  # reference parameters that only point at one type
    description: str = ""


def _p(
    name: str, kind: Kind, *paths: str, target: str | None = None, doc: str = ""
) -> SearchParameter:
    return SearchParameter(name, kind, paths, target, doc)


_SUBJECT = (
    _p("subject", "reference", "subject"),
    _p("patient", "reference", "subject", target="Patient"),
)

SEARCH_PARAMETERS: dict[str, tuple[SearchParameter, ...]] = {
    "Observation": (
        _p("code", "token", "code"),
        _p(
            "combo-code",
            "token",
            "code",
            "component.code",
            doc="the code of the result or of one of its components (a second unit)",
        ),
        _p("component-code", "token", "component.code"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("identifier", "token", "identifier"),
        *_SUBJECT,
        _p("encounter", "reference", "encounter"),
        _p("based-on", "reference", "basedOn"),
        _p("specimen", "reference", "specimen"),
        _p("performer", "reference", "performer"),
        _p("has-member", "reference", "hasMember"),
        _p("date", "date", "effective"),
        _p("value-quantity", "quantity", "valueQuantity"),
        _p("combo-value-quantity", "quantity", "valueQuantity", "component.valueQuantity"),
    ),
    "DiagnosticReport": (
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("identifier", "token", "identifier"),
        *_SUBJECT,
        _p("encounter", "reference", "encounter"),
        _p("based-on", "reference", "basedOn"),
        _p("result", "reference", "result"),
        _p("specimen", "reference", "specimen"),
        _p("performer", "reference", "performer"),
        _p("results-interpreter", "reference", "resultsInterpreter"),
        _p("media", "reference", "media.link"),
        _p("date", "date", "effective"),
        _p("issued", "date", "issued"),
    ),
    "Patient": (
        _p("identifier", "token", "identifier"),
        _p("gender", "token", "gender"),
        _p("birthdate", "date", "birthDate"),
        _p("name", "string", "name"),
        _p("family", "string", "name.family"),
        _p("given", "string", "name.given"),
        _p("general-practitioner", "reference", "generalPractitioner"),
    ),
    "Specimen": (
        _p("identifier", "token", "identifier"),
        _p("type", "token", "type"),
        *_SUBJECT,
        _p("parent", "reference", "parent"),
        _p("collected", "date", "collection.collected"),
    ),
    "DocumentReference": (
        _p("identifier", "token", "masterIdentifier", "identifier"),
        _p("type", "token", "type"),
        _p("status", "token", "status"),
        _p("contenttype", "token", "content.attachment.contentType"),
        *_SUBJECT,
        _p("encounter", "reference", "context.encounter"),
        _p("related", "reference", "context.related"),
        _p("relatesto", "reference", "relatesTo.target"),
        _p(
            "relatesto-identifier",
            "token",
            "relatesTo.target.identifier",
            doc="the identifier of a document this one relates to (replaces…)",
        ),
        _p("date", "date", "date"),
    ),
    "ServiceRequest": (
        _p("identifier", "token", "identifier"),
        *_SUBJECT,
        _p("requester", "reference", "requester"),
        _p("authored", "date", "authoredOn"),
    ),
    "Encounter": (_p("identifier", "token", "identifier"), *_SUBJECT, _p("date", "date", "period")),
    "Practitioner": (_p("identifier", "token", "identifier"), _p("name", "string", "name")),
    "PractitionerRole": (
        _p("practitioner", "reference", "practitioner"),
        _p("organization", "reference", "organization"),
    ),
    "Organization": (_p("identifier", "token", "identifier"), _p("name", "string", "name")),
    "Media": (*_SUBJECT, _p("based-on", "reference", "basedOn")),
    "Provenance": (_p("target", "reference", "target"),),
    "ConceptMap": (
        _p("url", "token", "url"),
        _p("version", "token", "version"),
        _p("name", "string", "name"),
    ),
    "CodeSystem": (
        _p("url", "token", "url"),
        _p("version", "token", "version"),
        _p("name", "string", "name"),
        _p("supplements", "token", "supplements", doc="the code system a supplement adds to"),
    ),
    "OperationDefinition": (
        _p("url", "token", "url"),
        _p("name", "string", "name"),
        _p("code", "token", "code"),
    ),
    "Location": (_p("name", "string", "name"),),
    "Device": (_p("identifier", "token", "identifier"),),
    "Binary": (),
}

# The date each resource type sorts by with _sort=date
SORT_DATE = {
    "Observation": "date",
    "DiagnosticReport": "date",
    "DocumentReference": "date",
    "Encounter": "date",
    "Specimen": "collected",
    "Patient": "birthdate",
    "ServiceRequest": "authored",
}


def parameters_of(resource_type: str) -> dict[str, SearchParameter]:
    return {p.name: p for p in SEARCH_PARAMETERS.get(resource_type, ())}


def indexed_names(resource_type: str) -> list[str]:
    """The `param` names index rows of this type carry: each parameter's, and those of
    a token's text (`code:text`) and of a string as written (`name:exact`)."""
    names = []
    for parameter in SEARCH_PARAMETERS.get(resource_type, ()):
        names.append(parameter.name)
        if parameter.kind in ("token", "string"):
            names.append(f"{parameter.name}:{'text' if parameter.kind == 'token' else 'exact'}")
    return names


@lru_cache(maxsize=1024)
def param_code(resource_type: str, name: str) -> int:
    """The number that stands for (resource type, parameter) in index rows.

    Four bytes where the two names took twenty in every row and again in its index: a
    CRC-32 of "Type.name", the same on every engine and in every process, with no table
    to keep. Every declared pair has its own (a test checks all of them).

    >>> param_code("Observation", "code")
    1187855407
    """
    return zlib.crc32(f"{resource_type}.{name}".encode()) & 0x7FFFFFFF


# Reading elements ---------------------------------------------------------------


def values_at(resource: dict[str, Any], path: str) -> Iterator[Any]:
    """Every value at a dotted path, lists flattened; "effective" reads effective[x]."""
    nodes: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if step in ("effective", "collected", "value"):  # choice elements [x]
                value = next(
                    (
                        v
                        for k, v in node.items()
                        if k.startswith(step) and k[len(step) :][:1].isupper()
                    ),
                    None,
                )
            else:
                value = node.get(step)
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        nodes = found
    yield from nodes


# Dates -----------------------------------------------------------------------------

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86_400_000_000


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@memoised(65536)  # a date of a stored resource or of a search, bounded in length
def date_range(value: str) -> tuple[int, int] | None:
    """The half-open range [low, high) of epoch microseconds a FHIR date stands for.

    A date without a time zone is read in UTC.

    >>> low, high = date_range("2024-11")
    >>> (high - low) // 86_400_000_000
    30
    >>> date_range("2024-11-10T07:35:00+01:00")[0] == date_range("2024-11-10T06:35:00Z")[0]
    True
    """
    m = _DATE.match(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:  # the end is added in microseconds: 9999-12-31 ends after datetime's last day
        tz = UTC
        if zone and zone != "Z":
            sign, hours, minutes = 1 if zone[0] == "+" else -1, int(zone[1:3]), int(zone[4:6])
            if minutes > 59:
                return None
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))  # ValueError past 24h
        if month is None:
            low = _micros(datetime(int(year), 1, 1, tzinfo=tz))
            return low, low + (366 if calendar.isleap(int(year)) else 365) * _DAY
        if day is None:
            low = _micros(datetime(int(year), int(month), 1, tzinfo=tz))
            return low, low + calendar.monthrange(int(year), int(month))[1] * _DAY
        low = _micros(
            datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=tz,
            )
        )
    except ValueError:
        return None
    if hour is None:
        width = _DAY
    elif second is None:
        width = 60_000_000
    elif fraction:
        digits = min(len(fraction) - 1, 6)
        low += int(fraction[1:7].ljust(6, "0"))
        width = 10 ** (6 - digits)
    else:
        width = 1_000_000
    return low, low + width


def _ranges(value: Any) -> Iterator[tuple[int, int]]:
    if isinstance(value, str):
        found = date_range(value)
        if found:
            yield found
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if value.get("start") else None
        end = date_range(value["end"]) if value.get("end") else None
        yield (start[0] if start else MIN_TIME, end[1] if end else MAX_TIME)


# Quantities -------------------------------------------------------------------------


@memoised(4096)
def _canonical_unit(code: str) -> tuple[str, Decimal] | None:
    """(canonical unit, factor to it) for a UCUM code, through pint's base units."""
    from bridge.terminology.ucum import (
        _quantity,  # noqa: PLC2701 - same project
        ucum_code,
    )

    try:
        base = (1 * _quantity(ucum_code(code))).to_base_units()
    except ConversionRefused:  # an unknown unit is indexed by its own code only
        return None
    return str(base.units), Decimal(f"{base.magnitude:.12g}")


def canonical_quantity(value: Any, code: str | None) -> tuple[str | None, float | None]:
    """The canonical UCUM unit and value, so that 132 g/L and 13.2 g/dL compare equal."""
    if code is None:
        return None, None
    canonical = _canonical_unit(code)
    if canonical is None:
        return None, None
    unit, factor = canonical
    try:
        return unit, float(Decimal(str(value)) * factor)
    except ArithmeticError:  # beyond Decimal's exponents (1e999999…): compared as written only
        return None, None


# Index rows -------------------------------------------------------------------------


@dataclass(slots=True)
class IndexRows:
    tokens: list[tuple[str, str | None, str]] = field(default_factory=list)
    references: list[tuple[str, str]] = field(default_factory=list)
    dates: list[tuple[str, int, int]] = field(default_factory=list)
    quantities: list[tuple[str, str | None, str | None, float, str | None, float | None]] = field(
        default_factory=list
    )
    strings: list[tuple[str, str]] = field(default_factory=list)
    sort_date: tuple[int, int] | None = None


def normalise_text(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def index_rows(resource: dict[str, Any]) -> IndexRows:
    rows = IndexRows()
    resource_type = resource["resourceType"]
    for parameter in SEARCH_PARAMETERS.get(resource_type, ()):
        for path in parameter.paths:
            for value in values_at(resource, path):
                _index_value(rows, parameter, value)
    sort_param = SORT_DATE.get(resource_type)
    if sort_param:
        spans = [(low, high) for name, low, high in rows.dates if name == sort_param]
        if spans:
            rows.sort_date = (min(s[0] for s in spans), max(s[1] for s in spans))
    return rows


def _index_value(rows: IndexRows, parameter: SearchParameter, value: Any) -> None:
    name = parameter.name
    kind = parameter.kind
    if kind == "token":
        if isinstance(value, str):
            rows.tokens.append((name, None, value))
        elif isinstance(value, dict):
            codings = value.get("coding") if "coding" in value else [value]
            for coding in codings or ():
                code = coding.get("code") or coding.get("value")
                if code:
                    rows.tokens.append((name, coding.get("system"), str(code)))
            if value.get("text"):
                rows.strings.append((f"{name}:text", normalise_text(value["text"])))
    elif kind == "reference" and isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str) and "/" in reference and not reference.startswith("#"):
            if parameter.target is None or reference.startswith(parameter.target + "/"):
                rows.references.append((name, reference))
    elif kind == "date":
        for low, high in _ranges(value):
            rows.dates.append((name, low, high))
    elif kind == "quantity" and isinstance(value, dict) and "value" in value:
        code = value.get("code")
        canonical_code, canonical_value = canonical_quantity(value["value"], code)
        rows.quantities.append(
            (
                name,
                value.get("system"),
                code or value.get("unit"),
                float(value["value"]),
                canonical_code,
                canonical_value,
            )
        )
    elif kind == "string":
        texts = []
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):  # HumanName
            texts.extend([value.get("family", ""), *value.get("given", ()), value.get("text", "")])
        for text in texts:
            if text:
                rows.strings.append((name, normalise_text(text)))
                rows.strings.append((f"{name}:exact", text))  # for :exact, as written
