"""Running a `Query`: one SQL statement for the page, keyset paging, then the _includes.

The hot path, Observation?patient=…&code=…[&date=…][&_sort=-date], reads the typed
columns of `observation_hot` through its composite index instead of the generic
index tables. Pages continue from an opaque cursor holding the sort keys of the last
row (keyset pagination): a page never shifts when resources are written meanwhile.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from bridge.store.content import unpack
from bridge.store.database import Cursor
from bridge.store.indexing import param_code
from bridge.store.records import SearchPage, Stored
from bridge.store.search import Condition, InvalidSearch, Query, condition_sql, date_sql

__all__ = ["hot_patient", "run_search"]


def run_search(cursor: Cursor, query: Query, dialect: str) -> SearchPage:
    """The page of resources a query matches, with what it includes (`dialect`: "sqlite"
    or "postgresql")."""
    resource_type = query.resource_type
    where = ["r.resource_type = ?", "NOT r.deleted"]
    params: list[Any] = [resource_type]
    joins = ""
    hot = _hot_path(query)
    conditions = query.conditions
    if hot is not None:
        patient, system, code, rest = hot
        joins = " JOIN observation_hot h ON h.rid = r.rid"
        where += ["h.patient = ?", "h.code = ?"]
        params += [patient, code]
        if system is not ...:
            where.append("h.system = ?" if system else "h.system IS NULL")
            if system:
                params.append(system)
        conditions = rest
    through_index = False  # some condition reads an index table (idx_token & co)
    for condition in conditions:
        if (
            condition.parameter is not None
            and condition.parameter.kind == "date"
            and hot is not None
            and condition.name == "date"
            and len(condition.values) == 1
        ):
            prefix, (low, high) = condition.values[0]
            sql, args = date_sql(prefix, low, high, "h.date_low", "h.date_high")
        else:
            sql, args = condition_sql(condition, "r", resource_type)
            through_index = through_index or _through_index(condition)
        where.append(sql)
        params += args
    # Only the observation_hot join can repeat a resource (one row per code it carries)
    distinct = "DISTINCT " if hot is not None else ""
    total = None
    if query.summary_count or query.total:
        counted = "COUNT(DISTINCT r.id)" if hot is not None else "COUNT(*)"
        cursor.execute(
            f"SELECT {counted} FROM resource r{joins} WHERE " + " AND ".join(where),
            params,
        )
        total = int(cursor.fetchone()[0])
        if query.summary_count:
            return SearchPage([], total=total)
    order, key_columns = _order(
        query, hot is not None, filtered=dialect == "sqlite" and through_index
    )
    signature = [c for c, _ in key_columns]
    after = _decode_cursor(query.cursor, signature)
    if after is not None:
        clause, args = _after(key_columns, after)
        where.append(clause)
        params += args
    cursor.execute(
        f"SELECT {distinct}r.id, r.version_id, r.last_updated, r.content, "
        f"{', '.join(c for c, _ in key_columns)} FROM resource r{joins} WHERE "
        + " AND ".join(where)
        + f" ORDER BY {order} LIMIT ?",
        [*params, query.count + 1],
    )
    rows = cursor.fetchall()
    more = len(rows) > query.count
    rows = rows[: query.count]
    matches = [Stored(resource_type, r[0], r[1], r[2], unpack(r[3])) for r in rows]
    next_cursor = _encode_cursor(signature, list(rows[-1][4:])) if more and rows else None
    included = _includes(cursor, query, matches)
    return SearchPage(matches, included, total, next_cursor)


def _includes(cursor: Cursor, query: Query, matches: list[Stored]) -> list[Stored]:
    """The resources the matches refer to through the _include parameters, each once."""
    if not query.includes or not matches:
        return []
    matched = {f"{m.resource_type}/{m.id}" for m in matches}  # each resource once
    targets: dict[str, None] = {}  # in reference order, each once
    ids = [m.id for m in matches]
    for source_type, param, target_type in query.includes:
        if source_type != query.resource_type:
            continue
        marks = ", ".join("?" for _ in ids)
        cursor.execute(
            "SELECT target FROM idx_reference WHERE param = ? AND rid IN (SELECT rid FROM "
            f"resource WHERE resource_type = ? AND id IN ({marks}))",
            [param_code(source_type, param), source_type, *ids],
        )
        for (target,) in cursor.fetchall():
            if (
                target not in targets
                and target not in matched
                and (target_type is None or target.startswith(target_type + "/"))
            ):
                targets[target] = None
    by_type: dict[str, list[str]] = {}
    for target in targets:
        kind, _, target_id = target.partition("/")
        by_type.setdefault(kind, []).append(target_id)
    stored: dict[str, Stored] = {}
    for kind, target_ids in by_type.items():  # one query per type, not per resource
        marks = ", ".join("?" for _ in target_ids)
        cursor.execute(
            "SELECT id, version_id, last_updated, content FROM resource WHERE "
            f"resource_type = ? AND id IN ({marks}) AND NOT deleted",
            [kind, *target_ids],
        )
        for row in cursor.fetchall():
            stored[f"{kind}/{row[0]}"] = Stored(kind, row[0], row[1], row[2], unpack(row[3]))
    return [stored[target] for target in targets if target in stored]  # in reference order


def _hot_path(query: Query) -> tuple[str, Any, str, list[Any]] | None:
    """Observation?patient=…&code=…: (patient reference, system, code, other conditions)."""
    if query.resource_type != "Observation":
        return None
    patient = code = None
    rest = []
    for condition in query.conditions:
        single = len(condition.values) == 1 and condition.modifier is None
        if patient is None and hot_patient(condition) is not None:
            patient = hot_patient(condition)
            continue
        if code is None and single and condition.name == "code":
            code = condition.values[0]
            continue
        rest.append(condition)
    if patient is None or code is None or code[1] is None:
        return None
    return patient, code[0], code[1], rest


def hot_patient(condition: Condition) -> str | None:
    """ "Patient/<id>" when a condition names one patient (patient=…, subject=Patient/…):
    the patient column of `observation_hot`, which only knows patients."""
    if len(condition.values) != 1 or condition.modifier is not None:
        return None
    if condition.name not in ("patient", "subject"):
        return None
    value = condition.values[0]
    if "/" not in value and condition.name == "patient":
        value = f"Patient/{value}"
    reference = "/".join(value.rsplit("/", 2)[-2:])
    return reference if reference.startswith("Patient/") else None


def _through_index(condition: Condition) -> bool:
    """Whether a condition is an `id IN (SELECT … FROM idx_…)` SQLite can start from
    (not _id or _lastUpdated, on `resource` itself, nor :not, a NOT EXISTS)."""
    return condition.parameter is not None and condition.modifier != "not"


def _order(query: Query, hot: bool, *, filtered: bool) -> tuple[str, list[tuple[str, bool]]]:
    """ORDER BY text and the (column, descending) keys a cursor continues from.

    `filtered` (SQLite only): conditions on index tables narrow the search. A column is
    then written `+r.seq`, an expression no index serves, so that SQLite starts from
    those conditions and sorts the few matches, instead of walking every resource of
    the type in index order and testing each (8 s over 240,000 Observations for a
    value-quantity search that matches nothing). PostgreSQL plans this by itself, and
    the hint would keep it from reading a page in index order (status=final: 1.4 ms
    without, 0.85 s with, on every page).
    """
    plain = "+" if filtered else ""
    keys: list[tuple[str, bool]] = []
    for key, descending in query.sort:
        if key == "date":
            keys.append(
                (
                    "COALESCE(h.date_low, -4611686018427387904)"
                    if hot
                    else "COALESCE(r.date_low, -4611686018427387904)",
                    descending,
                )
            )
        elif key == "_lastUpdated":
            keys.append((f"{plain}r.last_updated", descending))
        elif key == "_id":
            keys.append(("r.id", descending))
    last_descending = keys[-1][1] if keys else False
    keys.append((f"{plain}r.seq", last_descending))
    return ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in keys), keys


def _after(keys: list[tuple[str, bool]], values: list[Any]) -> tuple[str, list[Any]]:
    """Rows strictly after the cursor position, in the sort order (keyset pagination)."""
    clauses, params = [], []
    for i, (column, descending) in enumerate(keys):
        equal = [f"{c} = ?" for c, _ in keys[:i]]
        clauses.append(
            "(" + " AND ".join([*equal, f"{column} {'<' if descending else '>'} ?"]) + ")"
        )
        params += [*values[:i], values[i]]
    return "(" + " OR ".join(clauses) + ")", params


def _encode_cursor(signature: list[str], values: list[Any]) -> str:
    """An opaque token: where the page ended, and the sort it ended in."""
    payload = orjson.dumps({"sort": signature, "after": values})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(token: str | None, signature: list[str]) -> list[Any] | None:
    if not token:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidSearch("the page cursor is not one this server gave") from exc
    if (
        not isinstance(payload, dict)
        or payload.get("sort") != signature
        or not isinstance(payload.get("after"), list)
        or len(payload["after"]) != len(signature)
    ):
        raise InvalidSearch("the page cursor is not one this server gave for this search")
    for column, value in zip(signature, payload["after"], strict=True):
        if not (
            isinstance(value, str)
            if column == "r.id"
            else type(value) is int and -(2**63) <= value < 2**63
        ):
            raise InvalidSearch("the page cursor is not one this server gave")
    return payload["after"]
