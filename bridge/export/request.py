"""What a kick-off asks for: the Bulk Data v2 parameters, read and checked before any job.

source: FHIR Bulk Data Access 2.0.0, "Bulk Data Kick-off Request"
(http://hl7.org/fhir/uv/bulkdata/export.html#query-parameters).

- `_outputFormat`: NDJSON only, under its three names.
- `_since`: resources whose `meta.lastUpdated` is strictly later.
- `_type`: comma separated and repeatable; a type not served here (or, at patient level,
  outside the patient compartment) is refused.
- `_typeFilter`: FHIR searches `Type?param=value`, OR'ed per type, run by the store's
  own search (`bridge.store.search`); `_include`, `_sort` and the like are refused.
- `patient` (Patient level; the specification lists it for POST, GET takes it too):
  only these patients' compartments.
- `_elements` and `includeAssociatedData` are not supported. Every Provenance of the
  exported compartments is exported, as the specification asks of a server without
  `includeAssociatedData`.

A parameter that is not supported is refused (400) unless the client sent `Prefer:
handling=lenient`: it is then left aside, and the manifest's `error` file says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from bridge.export.compartment import PATIENT_LEVEL_TYPES, patient_reference
from bridge.export.errors import InvalidExportRequest, UnsupportedExportParameter
from bridge.store.indexing import SEARCH_PARAMETERS, date_range
from bridge.store.search import MAX_PARAMETERS, Query, parse_query
from bridge.terminology.conceptmap import value_x

__all__ = [
    "OUTPUT_FORMATS",
    "ExportRequest",
    "Level",
    "parameter_pairs",
    "parse_kickoff",
]

Level = Literal["system", "patient"]
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
MAX_PATIENTS = 1000


def _media_type(value: str) -> str:
    """The media type of an `_outputFormat`, its parameters aside (`;charset=utf-8`) and
    a `+` a client left unencoded (read back as a space) restored.

    >>> _media_type("application/fhir ndjson; charset=utf-8")
    'application/fhir+ndjson'
    """
    return value.split(";", 1)[0].strip().replace(" ", "+").lower()


# _typeFilter searches of one export, each held to a search's own limits: the export
# reads rows matching any of them in one statement (SQLite refused 1,100 of them as
# "Expression tree is too large", after the kick-off had been accepted).
MAX_TYPE_FILTERS = MAX_PARAMETERS
_SUBQUERY = re.compile(r",(?=[A-Z][A-Za-z]*\?)")  # the commas between two Type?… queries
_SEARCH_CONTROLS = {"_include", "_sort", "_count", "_summary", "_total", "_elements", "_cursor"}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    level: Level
    types: tuple[str, ...]  # in the order they are exported
    since: int | None = None  # epoch microseconds: only resources updated after it
    patients: tuple[str, ...] = ()  # "Patient/<id>"; none: every patient
    type_filters: tuple[tuple[str, str], ...] = ()  # (type, search query string)
    ignored: tuple[str, ...] = field(default=())  # what handling=lenient left aside

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ExportRequest:
        raw = json.loads(data)
        return cls(
            level=raw["level"],
            types=tuple(raw["types"]),
            since=raw["since"],
            patients=tuple(raw["patients"]),
            type_filters=tuple((t, q) for t, q in raw["type_filters"]),
            ignored=tuple(raw["ignored"]),
        )

    def filters_of(self, resource_type: str) -> list[Query]:
        """The `_typeFilter` searches of a type (none: every resource of it)."""
        return [
            parse_query(t, parse_qsl(q, keep_blank_values=True))
            for t, q in self.type_filters
            if t == resource_type
        ]


def parameter_pairs(parameters: Any) -> list[tuple[str, Any]]:
    """A POSTed Parameters resource as (name, value) pairs (a reference as its string)."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise InvalidExportRequest("the body must be a FHIR Parameters resource")
    entries = parameters.get("parameter", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidExportRequest("Parameters.parameter must be a list of parameters")
    pairs = []
    for entry in entries:
        value = value_x(entry)
        if isinstance(value, dict) and "reference" in value:
            value = value["reference"]
        pairs.append((str(entry.get("name", "")), value))
    return pairs


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class _Reader:
    """Collects what the request asks, refusing or (leniently) setting aside the rest."""

    def __init__(self, level: Level, lenient: bool) -> None:
        self.level = level
        self.lenient = lenient
        self.ignored: list[str] = []

    def unsupported(self, message: str) -> None:
        if not self.lenient:
            raise UnsupportedExportParameter(
                f"{message} (send Prefer: handling=lenient to have it left aside)"
            )
        self.ignored.append(message)

    def allowed_types(self) -> list[str]:
        served = sorted(SEARCH_PARAMETERS)
        if self.level == "patient":
            return [t for t in served if t in PATIENT_LEVEL_TYPES]
        return served


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidExportRequest(f"{name} must be a string, not {value!r}")
    if _CONTROL_CHARACTERS.search(value):  # as in any search: never taken for blank
        raise InvalidExportRequest(f"{name} holds a control character")
    return value


def _since(value: str) -> int:
    found = date_range(value.strip().replace(" ", "+"))  # a "+" the URL turned into a space
    if found is None:
        raise InvalidExportRequest(f"_since {value!r} is not a FHIR instant")
    return found[0]


def _types(reader: _Reader, values: list[str]) -> list[str]:
    allowed = reader.allowed_types()
    types: list[str] = []
    for name in (t.strip() for value in values for t in value.split(",")):
        if not name or name in types:
            continue
        if name in allowed:
            types.append(name)
        elif name in SEARCH_PARAMETERS:
            reader.unsupported(f"_type {name}: not in the patient compartment")
        else:
            reader.unsupported(f"_type {name}: not a resource type served here")
    return types


def _type_filters(reader: _Reader, values: list[str], types: list[str]) -> list[tuple[str, str]]:
    filters = []
    subqueries = [q.strip() for value in values for q in _SUBQUERY.split(value) if q.strip()]
    if len(subqueries) > MAX_TYPE_FILTERS:
        raise InvalidExportRequest(
            f"{len(subqueries)} _typeFilter searches: an export takes at most {MAX_TYPE_FILTERS}"
        )
    for subquery in subqueries:
        resource_type, mark, query_string = subquery.partition("?")
        if not mark or resource_type not in SEARCH_PARAMETERS:
            raise InvalidExportRequest(f"_typeFilter {subquery!r} is not a Type?query search")
        if resource_type not in types:
            reader.unsupported(f"_typeFilter {subquery}: {resource_type} is not exported")
            continue
        pairs = parse_qsl(query_string, keep_blank_values=True)
        controls = sorted({name for name, _ in pairs} & _SEARCH_CONTROLS)
        if controls:
            raise InvalidExportRequest(f"_typeFilter {subquery}: {', '.join(controls)} not allowed")
        query = parse_query(resource_type, pairs)  # refuses values it cannot read
        if query.unknown:
            reader.unsupported(
                f"_typeFilter {subquery}: unknown search parameter(s) {', '.join(query.unknown)}"
            )
            if not query.understood:
                continue
        filters.append((resource_type, urlencode(query.understood)))
    return filters


def parse_kickoff(level: Level, pairs: list[tuple[str, Any]], *, lenient: bool) -> ExportRequest:
    """The export a kick-off asks for (`pairs`: query parameters, or a Parameters body)."""
    reader = _Reader(level, lenient)
    since: int | None = None
    type_values: list[str] = []
    filter_values: list[str] = []
    patients: list[str] = []
    for name, value in pairs:
        if name == "_outputFormat":
            if _media_type(_text(name, value)) not in OUTPUT_FORMATS:
                reader.unsupported(f"_outputFormat {value}: only NDJSON ({OUTPUT_FORMATS[0]})")
        elif name == "_since":
            since = _since(_text(name, value))
        elif name == "_type":
            type_values.append(_text(name, value))
        elif name == "_typeFilter":
            filter_values.append(_text(name, value))
        elif name == "patient":
            if level != "patient":
                reader.unsupported("patient: not applicable to a system level export")
                continue
            for item in _text(name, value).split(","):
                patient = patient_reference(item.strip())
                if patient is None:
                    raise InvalidExportRequest(f"patient {item!r} is not a Patient reference")
                if patient not in patients:
                    patients.append(patient)
        elif name in ("_elements", "includeAssociatedData"):
            reader.unsupported(f"{name}: not supported")
        elif name != "_format":  # _format only concerns the OperationOutcome answers
            reader.unsupported(f"{name}: not a parameter of $export")
    if len(patients) > MAX_PATIENTS:
        raise InvalidExportRequest(f"at most {MAX_PATIENTS} patients per export")
    types = _types(reader, type_values) if type_values else reader.allowed_types()
    filters = _type_filters(reader, filter_values, types)
    return ExportRequest(
        level=level,
        types=tuple(types),
        since=since,
        patients=tuple(patients),
        type_filters=tuple(filters),
        ignored=tuple(reader.ignored),
    )
