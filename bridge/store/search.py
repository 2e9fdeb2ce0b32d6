"""FHIR search parameters → a `Query` (pure), and a `Query` → SQL.

Supported: token (`system|code`, `code`, `system|`, `|code`, `:not`, `:text`), reference
(`Patient/123` or `123`), date with prefixes eq ne gt lt ge le sa eb and partial dates,
quantity with prefixes and units (compared in canonical UCUM units), string (starts
with, `:exact`, `:contains`), `_id`, `_lastUpdated`, `_count`, `_sort`, `_summary=count`,
`_total`, `_include`. Comma-separated values are OR'ed; repeated parameters are AND'ed.
Unknown parameters are reported back so the API can ignore them (and leave them out
of the `self` link) or refuse them under `Prefer: handling=strict`.

A search costs at most MAX_PARAMETERS parameters of MAX_VALUES values each (beyond,
PostgreSQL's planning time grew without bound and SQLite refused the expression),
each sort key at most once; values holding control characters (a NUL byte…) are
refused before any SQL sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.errors import BridgeError
from bridge.store.indexing import (
    SORT_DATE,
    SearchParameter,
    canonical_quantity,
    date_range,
    normalise_text,
    param_code,
    parameters_of,
)

__all__ = [
    "MAX_PARAMETERS",
    "MAX_STRING",
    "MAX_VALUES",
    "Condition",
    "InvalidSearch",
    "Query",
    "condition_sql",
    "date_sql",
    "parse_query",
]

DEFAULT_COUNT = 20
MAX_COUNT = 1000
MAX_PARAMETERS = 20  # query parameters of one search, control parameters (_count…) included
MAX_VALUES = 20  # comma-separated values of one parameter
MAX_STRING = 2_000  # characters of a string search value (a name, an address)
MAX_EXPONENT = 300  # quantities are compared as doubles
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_CONTROL = {
    "_count",
    "_sort",
    "_summary",
    "_total",
    "_include",
    "_cursor",
    "_format",
    "_elements",
    "_pretty",
}
_MODIFIERS = {"token": ("not", "text"), "string": ("exact", "contains")}
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")  # subject:Patient=123


class InvalidSearch(BridgeError, ValueError):
    """A search parameter whose value cannot be understood (400)."""

    code = "invalid-search"


@dataclass(frozen=True, slots=True)
class Condition:
    """One parameter occurrence: its values are OR'ed."""

    parameter: SearchParameter | None  # None for _id and _lastUpdated
    name: str
    modifier: str | None
    values: tuple[Any, ...]


@dataclass(slots=True)
class Query:
    resource_type: str
    conditions: list[Condition] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    sort: tuple[tuple[str, bool], ...] = ()  # (key, descending): key "date" or "_lastUpdated"
    summary_count: bool = False
    total: bool = False
    includes: list[tuple[str, str, str | None]] = field(default_factory=list)
    understood: list[tuple[str, str]] = field(default_factory=list)  # for the self link
    unknown: list[str] = field(default_factory=list)
    cursor: str | None = None


def parse_query(resource_type: str, params: list[tuple[str, str]]) -> Query:
    if len(params) > MAX_PARAMETERS:
        raise InvalidSearch(
            f"{len(params)} search parameters: a search takes at most {MAX_PARAMETERS}"
        )
    query = Query(resource_type)
    known = parameters_of(resource_type)
    for raw_name, raw_value in params:
        name, _, modifier = raw_name.partition(":")
        if name not in known and name not in _CONTROL and name not in ("_id", "_lastUpdated"):
            query.unknown.append(raw_name)  # ignored, never near SQL
            continue
        if _CONTROL_CHARACTERS.search(raw_name) or _CONTROL_CHARACTERS.search(raw_value):
            raise InvalidSearch("a search parameter holds a control character (NUL…)")
        if name in _CONTROL:
            _control(query, name, raw_value)
            if name != "_cursor":
                query.understood.append((raw_name, raw_value))
            continue
        if name in ("_id", "_lastUpdated"):
            if modifier:
                raise InvalidSearch(f"{raw_name}: {name} takes no modifier")
            values = _values(None, name, raw_value)
            query.conditions.append(Condition(None, name, modifier or None, values))
            query.understood.append((raw_name, raw_value))
            continue
        parameter = known[name]
        _check_modifier(parameter, raw_name, modifier)
        query.conditions.append(
            Condition(
                parameter,
                name,
                modifier or None,
                _values(parameter, name, raw_value, modifier or None),
            )
        )
        query.understood.append((raw_name, raw_value))
    return query


def _control(query: Query, name: str, value: str) -> None:
    if name == "_count":
        if not (value.isascii() and value.isdigit()):
            raise InvalidSearch(f"_count must be a whole number, not {value!r}")
        digits = value.lstrip("0")  # int() of thousands of digits costs, then refuses
        query.count = MAX_COUNT if len(digits) > 4 else min(int(digits or "0"), MAX_COUNT)
        if query.count == 0:  # FHIR: _count=0 asks for the total only, as _summary=count
            query.summary_count = True
    elif name == "_sort":
        keys: list[tuple[str, bool]] = []
        for key in value.split(","):
            descending = key.startswith("-")
            key = key.removeprefix("-")
            if key not in ("date", "_lastUpdated", "_id"):
                raise InvalidSearch(f"cannot sort by {key!r}: date, _lastUpdated or _id")
            if key in (k for k, _ in keys):
                raise InvalidSearch(f"_sort names {key} twice")
            if key == "date" and query.resource_type not in SORT_DATE:
                raise InvalidSearch(f"{query.resource_type} has no date to sort by")
            keys.append((key, descending))
        query.sort = tuple(keys)
    elif name == "_summary":
        if value == "count":
            query.summary_count = True
        elif value not in ("false", "true", "data", "text"):
            raise InvalidSearch(f"_summary={value} is not supported")
    elif name == "_total":
        query.total = value in ("accurate", "estimate")
    elif name == "_include":
        parts = value.split(":")
        if (
            len(parts) < 2
            or not parameters_of(parts[0]).get(parts[1])
            or parameters_of(parts[0])[parts[1]].kind != "reference"
        ):
            raise InvalidSearch(f"_include={value}: expected Type:reference-parameter")
        query.includes.append((parts[0], parts[1], parts[2] if len(parts) > 2 else None))
    elif name == "_cursor":
        query.cursor = value


def _check_modifier(parameter: SearchParameter, raw_name: str, modifier: str) -> None:
    """Refuse a modifier this server does not apply, rather than search as if it were absent."""
    if not modifier or modifier in _MODIFIERS.get(parameter.kind, ()):
        return
    if (
        parameter.kind == "reference"
        and _RESOURCE_TYPE.match(modifier)
        and parameter.target in (None, modifier)
    ):
        return
    raise InvalidSearch(f"{raw_name}: the modifier :{modifier} is not supported here")


def _split(value: str) -> list[str]:
    """Comma-separated values, with "\\," as a literal comma."""
    return [v.replace("\\,", ",") for v in re.split(r"(?<!\\),", value)]


def _prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in _PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def _values(
    parameter: SearchParameter | None, name: str, raw: str, modifier: str | None = None
) -> tuple[Any, ...]:
    kind = (
        "date"
        if name == "_lastUpdated"
        else ("token" if name == "_id" else parameter.kind if parameter else "token")
    )
    values = []
    split = _split(raw)
    if len(split) > MAX_VALUES:
        raise InvalidSearch(
            f"{name} has {len(split)} values: a parameter takes at most {MAX_VALUES}"
        )
    for value in split:
        if value == "":
            raise InvalidSearch(f"{name} has an empty value")
        if kind == "token":
            if name == "_id" or modifier == "text":
                values.append((None, value))
            elif "|" in value:
                system, _, code = value.partition("|")
                values.append((system, code or None))
            else:
                values.append((..., value))  # any system
        elif kind == "reference":  # a type modifier names the type of a bare id
            values.append(f"{modifier}/{value}" if modifier and "/" not in value else value)
        elif kind == "date":
            prefix, text = _prefix(value)
            # a "+01:00" offset sent unencoded in a URL arrives as " 01:00"
            found = date_range(re.sub(r"(T[\d:.]+) (\d{2}:\d{2})$", r"\1+\2", text))
            if found is None:
                raise InvalidSearch(f"{name}={value}: not a FHIR date")
            values.append((prefix, found))
        elif kind == "quantity":
            prefix, text = _prefix(value)
            number, _, unit = text.partition("|")
            system, _, code = unit.partition("|")
            try:
                amount = Decimal(number)
            except InvalidOperation as exc:
                raise InvalidSearch(f"{name}={value}: not a number") from exc
            if not amount.is_finite() or abs(amount.adjusted()) > MAX_EXPONENT:
                raise InvalidSearch(f"{name}={value}: not a number within ±1e{MAX_EXPONENT}")
            values.append((prefix, amount, system or None, code or None))
        elif kind == "string":
            if len(value) > MAX_STRING:  # SQLite refuses LIKE patterns over 50,000 bytes
                raise InvalidSearch(
                    f"{name}: a string value of {len(value)} characters; at most {MAX_STRING}"
                )
            values.append(value if modifier == "exact" else normalise_text(value))
    return tuple(values)


# SQL ---------------------------------------------------------------------------------

_ESCAPE = "ESCAPE '\\'"  # LIKE patterns below escape their wildcards with a backslash


def _like(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards (% and _) taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def date_sql(prefix: str, low: int, high: int, lo: str, hi: str) -> tuple[str, list[Any]]:
    """A date condition over half-open ranges [lo, hi) against the search range [low, high)."""
    within = f"({lo} >= ? AND {hi} <= ?)"
    return {
        "eq": (within, [low, high]),
        "ne": (f"NOT {within}", [low, high]),
        "gt": (f"{hi} > ?", [high]),
        "lt": (f"{lo} < ?", [low]),
        "ge": (f"({hi} > ? OR {within})", [high, low, high]),
        "le": (f"({lo} < ? OR {within})", [low, low, high]),
        "sa": (f"{lo} >= ?", [high]),
        "eb": (f"{hi} <= ?", [low]),
        "ap": (f"({lo} < ? AND {hi} > ?)", [high, low]),
    }[prefix]


def _reference_value(parameter: SearchParameter, value: str) -> str:
    if "/" in value:
        return value.rsplit("/", 2)[-2] + "/" + value.rsplit("/", 1)[-1]
    return f"{parameter.target or 'Patient'}/{value}" if parameter.target else value


def condition_sql(condition: Condition, alias: str, resource_type: str) -> tuple[str, list[Any]]:
    """SQL (on the row alias of table `resource`) for one condition: its values OR'ed.

    With :not, each value is a correlated `NOT EXISTS` and they are AND'ed ("neither a
    nor b"): PostgreSQL runs that as an anti-join, where `NOT (id IN (…))` made it test
    each resource against the whole subquery (160 s with a small work_mem).
    """
    clauses: list[str] = []
    params: list[Any] = []
    parameter, name = condition.parameter, condition.name
    negated = condition.modifier == "not"
    for value in condition.values:
        if name == "_id":
            clauses.append(f"{alias}.id = ?")
            params.append(value[1])
        elif name == "_lastUpdated":
            prefix, (low, high) = value
            sql, args = date_sql(
                prefix, low, high, f"{alias}.last_updated", f"({alias}.last_updated + 1)"
            )
            clauses.append(sql)
            params += args
        elif parameter.kind == "token":
            sql, args = _token_sql(condition, value, alias, resource_type, correlated=negated)
            clauses.append(sql)
            params += args
        elif parameter.kind == "reference":
            target = _reference_value(parameter, value)
            if "/" in target:
                clauses.append(
                    _indexed(
                        alias,
                        "idx_reference ref",
                        "ref.param = ? AND ref.target = ?",
                        correlated=negated,
                    )
                )
                params += [param_code(resource_type, name), target]
            else:  # a bare id of any type
                clauses.append(
                    _indexed(
                        alias,
                        "idx_reference ref",
                        f"ref.param = ? AND ref.target LIKE ? {_ESCAPE}",
                        correlated=negated,
                    )
                )
                params += [param_code(resource_type, name), f"%/{_like(target)}"]
        elif parameter.kind == "date":
            prefix, (low, high) = value
            sql, args = date_sql(prefix, low, high, "d.low", "d.high")
            clauses.append(
                _indexed(alias, "idx_date d", f"d.param = ? AND {sql}", correlated=negated)
            )
            params += [param_code(resource_type, name), *args]
        elif parameter.kind == "quantity":
            sql, args = _quantity_sql(value, alias, resource_type, name, correlated=negated)
            clauses.append(sql)
            params += args
        elif parameter.kind == "string":
            sql, args = _string_sql(condition.modifier, value)
            param = f"{name}:exact" if condition.modifier == "exact" else name
            clauses.append(
                _indexed(alias, "idx_string s", f"s.param = ? AND {sql}", correlated=negated)
            )
            params += [param_code(resource_type, param), *args]
    if negated:  # code:not=a,b is "neither a nor b"
        return "(" + " AND ".join(f"NOT {clause}" for clause in clauses) + ")", params
    return "(" + " OR ".join(clauses) + ")", params


def _indexed(alias: str, table: str, where: str, *, correlated: bool = False) -> str:
    """`alias`.rid among the resource numbers an index table gives (`table` is
    "idx_token t" & co).

    Written `rid IN (SELECT rid …)` rather than a correlated `EXISTS`: SQLite then starts
    from the index table and looks each id up, where with EXISTS it walked every
    resource of the type (Observation?patient=… took 20 s over 240,000 Observations).
    `correlated`: a correlated `EXISTS (…)` instead, for a condition that is negated
    (:not), which nothing can start from anyway: `NOT EXISTS` is an anti-join.
    `where` starts with the parameter (`x.param = ?`, its `param_code`), in either form.
    """
    short = table.split()[1]
    if correlated:
        return f"EXISTS (SELECT 1 FROM {table} WHERE {short}.rid = {alias}.rid AND {where})"
    return f"{alias}.rid IN (SELECT {short}.rid FROM {table} WHERE {where})"


def _token_sql(
    condition: Condition, value: Any, alias: str, resource_type: str, *, correlated: bool = False
) -> tuple[str, list[Any]]:
    system, code = value
    param = condition.name
    if condition.modifier == "text":
        return (
            _indexed(
                alias,
                "idx_string s",
                f"s.param = ? AND s.value LIKE ? {_ESCAPE}",
                correlated=correlated,
            ),
            [param_code(resource_type, f"{param}:text"), f"%{_like(normalise_text(code))}%"],
        )
    where = ["t.param = ?"]
    args: list[Any] = [param_code(resource_type, param)]
    if code is not None:
        where.append("t.code = ?")
        args.append(code)
    if system is not ...:
        if system in (None, ""):
            where.append("t.system IS NULL")
        else:
            where.append("t.system = ?")
            args.append(system)
    return _indexed(alias, "idx_token t", " AND ".join(where), correlated=correlated), args


def _precision(amount: Decimal) -> Decimal:
    exponent = amount.as_tuple().exponent
    return Decimal(5).scaleb(int(exponent) - 1) if isinstance(exponent, int) else Decimal(0)


def _quantity_sql(
    value: Any, alias: str, resource_type: str, name: str, *, correlated: bool = False
) -> tuple[str, list[Any]]:
    prefix, amount, system, code = value
    canonical_code, canonical_amount = canonical_quantity(amount, code) if code else (None, None)
    if canonical_code is not None:
        column, unit_sql, unit_args = "q.canonical_value", "q.canonical_code = ?", [canonical_code]
        target = Decimal(str(canonical_amount))
        half = _precision(amount) * (target / amount if amount else Decimal(1))
    else:
        column, target, half = "q.value", amount, _precision(amount)
        unit_sql = "1 = 1" if code is None else "(q.code = ?)"
        unit_args = [] if code is None else [code]
        if system:
            unit_sql += " AND q.system = ?"
            unit_args.append(system)
    low, high = float(target - abs(half)), float(target + abs(half))
    comparison, args = {
        "eq": (f"{column} >= ? AND {column} < ?", [low, high]),
        "ne": (f"NOT ({column} >= ? AND {column} < ?)", [low, high]),
        "gt": (f"{column} > ?", [float(target)]),
        "lt": (f"{column} < ?", [float(target)]),
        "ge": (f"{column} >= ?", [float(target)]),
        "le": (f"{column} <= ?", [float(target)]),
        "sa": (f"{column} > ?", [float(target)]),
        "eb": (f"{column} < ?", [float(target)]),
        "ap": (f"{column} >= ? AND {column} <= ?", [float(target) * 0.9, float(target) * 1.1]),
    }[prefix]
    return (
        _indexed(
            alias,
            "idx_quantity q",
            f"q.param = ? AND {unit_sql} AND {comparison}",
            correlated=correlated,
        ),
        [param_code(resource_type, name), *unit_args, *args],
    )


def _string_sql(modifier: str | None, value: str) -> tuple[str, list[Any]]:
    if modifier == "exact":  # against the text as written: case and accents count
        return "s.value = ?", [value]
    if modifier == "contains":
        return f"s.value LIKE ? {_ESCAPE}", [f"%{_like(value)}%"]
    return f"s.value LIKE ? {_ESCAPE}", [f"{_like(value)}%"]
