"""$lastn in one statement: the most recent Observations of each code, `max` per code.

FHIR R4 `Observation/$lastn` groups a patient's Observations by code and keeps the
`max` most recent of each. One SQL statement does it on both engines, from the
typed columns of `observation_hot` (patient, code, date) and a window function:

- each Observation falls in one group: its LOINC code when it has one, else its
  first code in (system, code) order, so that an Observation coded in LOINC and in
  the lab's local code is listed once; with `code=…`, the codes asked for;
- most recent first by effective time (the start of a period), then by the order
  of writing; an Observation without effective time comes last.

The other search parameters (category, status, date…) narrow the Observations as
they do in a search, through the index tables.
"""

from __future__ import annotations

from typing import Any

from bridge.store.content import unpack
from bridge.store.database import Cursor
from bridge.store.querying import hot_patient
from bridge.store.records import Stored
from bridge.store.search import Query, condition_sql

__all__ = ["run_lastn"]

LOINC = "http://loinc.org"
_NO_DATE = -4611686018427387904


def run_lastn(cursor: Cursor, query: Query, max_per_code: int) -> list[Stored]:
    """The `max_per_code` most recent Observations of each code the query matches,
    grouped by code, each group most recent first."""
    where = ["NOT r.deleted"]
    params: list[Any] = []
    codes: list[tuple[Any, str | None]] = []
    patient = None
    for condition in query.conditions:
        if patient is None and hot_patient(condition) is not None:
            patient = hot_patient(condition)
            where.append("h.patient = ?")
            params.append(patient)
        elif condition.name == "code" and condition.modifier is None and not codes:
            codes = list(condition.values)
        else:
            sql, args = condition_sql(condition, "r", "Observation")
            where.append(sql)
            params += args
    if codes:
        alternatives = []
        for system, code in codes:
            clause = ["h.code = ?"] if code is not None else []
            args = [code] if code is not None else []
            if system is not ...:
                clause.append("h.system = ?" if system else "h.system IS NULL")
                args += [system] if system else []
            alternatives.append("(" + " AND ".join(clause or ["1 = 1"]) + ")")
            params += args
        where.append("(" + " OR ".join(alternatives) + ")")
    cursor.execute(
        "WITH keyed AS (SELECT h.rid, MIN(CASE WHEN h.system = ? THEN '0' ELSE '1' END || "
        "COALESCE(h.system, '') || '|' || h.code) AS grp, "
        f"MAX(COALESCE(h.date_low, {_NO_DATE})) AS moment, MAX(h.seq) AS written "
        "FROM observation_hot h JOIN resource r ON r.rid = h.rid WHERE "
        + " AND ".join(where)
        + " GROUP BY h.rid), "
        "ranked AS (SELECT rid, grp, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY moment DESC, "
        "written DESC) AS n FROM keyed) "
        "SELECT r.id, r.version_id, r.last_updated, r.content FROM ranked JOIN resource r "
        "ON r.rid = ranked.rid WHERE ranked.n <= ? "
        "ORDER BY ranked.grp, ranked.n",
        [LOINC, *params, max_per_code],
    )
    return [Stored("Observation", r[0], r[1], r[2], unpack(r[3])) for r in cursor.fetchall()]
