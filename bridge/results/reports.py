"""Which report a result belongs to, and the other results of that report.

In FHIR R4 an Observation does not name its DiagnosticReport: the report lists its
results (`result`), and a battery its members (`hasMember`). These helpers walk
those references upwards and downwards with the store's search (index tables), a
few queries for a whole series, never a scan of the patient's Observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from bridge.store import Query, Store, Stored
from bridge.store.indexing import parameters_of
from bridge.store.search import MAX_COUNT, Condition

__all__ = ["ReportIndex", "all_matches", "by_ids", "observations_of", "report_observations"]

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
