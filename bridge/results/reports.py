"""Which report a result belongs to, and the other results of that report.

In FHIR R4 an Observation does not name its DiagnosticReport: the report lists its
results (`result`), and a battery its members (`hasMember`). These helpers walk
those references upwards and downwards with the store's search (index tables), a
few queries for a whole series, never a scan of the patient's Observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from bridge.store import Query, ResourceDeleted, ResourceNotFound, Store, Stored, parse_query
from bridge.store.indexing import parameters_of
from bridge.store.search import MAX_COUNT, Condition

__all__ = [
    "ReportIndex",
    "all_matches",
    "by_ids",
    "observations_of",
    "replacement_of",
    "report_observations",
]

_MAX_DEPTH = 8  # batteries inside batteries: CR-BIO nests two or three levels
_CHUNK = 200  # references per query


def all_matches(store: Store, query: Query) -> Iterator[Stored]:
    """Every resource a query matches, page after page (keyset cursors)."""
    query.count = MAX_COUNT
    while True:
        page = store.search(query)
        yield from page.matches
        if not page.next_cursor:
            return
        query.cursor = page.next_cursor


def _referring(store: Store, resource_type: str, param: str, targets: list[str]) -> list[Stored]:
    """The resources whose `param` refers to one of `targets` ("Observation/<id>")."""
    parameter = parameters_of(resource_type)[param]
    found: list[Stored] = []
    for start in range(0, len(targets), _CHUNK):
        chunk = tuple(targets[start : start + _CHUNK])
        query = Query(resource_type, [Condition(parameter, param, None, chunk)])
        found.extend(all_matches(store, query))
    return found


def by_ids(store: Store, resource_type: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    """The current resources of these ids (deleted ones left out)."""
    wanted = sorted(set(ids))
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = tuple((None, i) for i in wanted[start : start + _CHUNK])
        query = Query(resource_type, [Condition(None, "_id", None, chunk)])
        found.extend(s.resource() for s in all_matches(store, query))
    return found


class ReportIndex:
    """The DiagnosticReport of each of some Observations (through batteries too)."""

    def __init__(self, store: Store, observation_ids: Iterable[str]) -> None:
        self.reports: dict[str, dict[str, Any]] = {}  # report id → report
        self._report_of: dict[str, str] = {}  # observation id → report id
        pending = {i: i for i in observation_ids}  # (ancestor so far) → observation
        owners: dict[str, set[str]] = {}
        for observation_id in pending:
            owners.setdefault(observation_id, set()).add(observation_id)
        level = set(pending)
        for _ in range(_MAX_DEPTH):
            if not level:
                break
            references = sorted(f"Observation/{i}" for i in level)
            for stored in _referring(store, "DiagnosticReport", "result", references):
                report = stored.resource()
                self.reports[stored.id] = report
                for reference in report.get("result", ()):
                    child = reference.get("reference", "").partition("/")[2]
                    for observation_id in owners.get(child, ()):
                        self._report_of.setdefault(observation_id, stored.id)
            unresolved = {i for i in level if not owners[i] <= self._report_of.keys()}
            parents: dict[str, set[str]] = {}
            references = sorted(f"Observation/{i}" for i in unresolved)
            for stored in _referring(store, "Observation", "has-member", references):
                for member in stored.resource().get("hasMember", ()):
                    child = member.get("reference", "").partition("/")[2]
                    if child in unresolved:
                        parents.setdefault(stored.id, set()).update(owners[child])
            for parent, observations in parents.items():
                owners.setdefault(parent, set()).update(observations)
            level = set(parents)

    def report_of(self, observation_id: str) -> dict[str, Any] | None:
        report_id = self._report_of.get(observation_id)
        return self.reports.get(report_id) if report_id else None


def report_observations(store: Store, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Observation of a report: its results and, recursively, their members."""
    return list(observations_of(store, [report]).values())


def observations_of(store: Store, reports: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every Observation of some reports (id → Observation), batteries' members included:
    one query per nesting level for all of them."""
    found: dict[str, dict[str, Any]] = {}
    level = [r.get("reference", "") for report in reports for r in report.get("result", ())]
    for _ in range(_MAX_DEPTH):
        ids = [
            reference.partition("/")[2]
            for reference in level
            if reference.startswith("Observation/") and reference.partition("/")[2] not in found
        ]
        if not ids:
            break
        observations = by_ids(store, "Observation", ids)
        found.update({o["id"]: o for o in observations})
        level = [m.get("reference", "") for o in observations for m in o.get("hasMember", ())]
    return found


def replacement_of(store: Store, report_id: str) -> dict[str, Any] | None:
    """The current report that took a deleted one's place, when a later document
    replaced it (RPLC); None when it was deleted for another reason, or is current.

    The way back from a replaced report to its replacement is the document's: the old
    report's identifiers name its document, the replacing DocumentReference says
    `relatesTo` replaces that identifier, and its `context.related` names the new report.
    A replacement replaced in turn is followed to the report in force.
    """
    seen = {report_id}
    for _ in range(_MAX_DEPTH):
        versions = store.history("DiagnosticReport", report_id)  # newest first
        replaced = next((v for v in versions if not v.deleted), None)
        if replaced is None or not versions[0].deleted:
            return None
        successor = _successor(store, replaced.resource())
        if successor is None or successor in seen:
            return None
        try:
            return store.read("DiagnosticReport", successor).resource()
        except ResourceDeleted:
            seen.add(report_id := successor)
        except ResourceNotFound:
            return None
    return None


def _successor(store: Store, report: dict[str, Any]) -> str | None:
    """The id of the report a document replacing `report`'s document brought."""
    for identifier in report.get("identifier", ()):
        if not identifier.get("value"):
            continue
        token = f"{identifier.get('system', '')}|{identifier['value']}"
        query = parse_query("DocumentReference", [("relatesto-identifier", token)])
        for stored in all_matches(store, query):
            document = stored.resource()
            if not any(
                relation.get("code") == "replaces"
                and relation.get("target", {}).get("identifier", {}).get("value")
                == identifier["value"]
                for relation in document.get("relatesTo", ())
            ):
                continue
            for related in document.get("context", {}).get("related", ()):
                kind, _, target = str(related.get("reference", "")).partition("/")
                if kind == "DiagnosticReport" and target:
                    return target
    return None
