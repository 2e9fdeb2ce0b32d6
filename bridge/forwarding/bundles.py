"""The transaction Bundles that deliver one outbox row, read from the store at delivery.

Every resource goes as `PUT Type/id` with its stable id, so a delivery repeated after a
crash or a lost answer changes nothing downstream. The content is the store's, meta
aside (the destination keeps its own versions), with decimals exactly as stored.

A row is one Bundle of PUTs, complete: every reference of every resource resolves
inside it, so a server that refuses references to what it does not hold takes it.
When the row deletes anything, a second Bundle of DELETEs follows: a replaced report
is still named by its superseded DocumentReference and its Provenance (as in this
store), and a server checking the references of what a transaction writes would
refuse that reference once the report is deleted in the same transaction.

Which version of each resource:
- the current one, whatever row wrote it: a row delivered late (a retried dead row, or
  the first of several reports of a patient stored before the worker got to them)
  never sends a patient's older address or a request's older encounter over what a
  later row delivered, so the destination's content only moves forward. What the
  current version refers to comes along (below), so the Bundle stays complete;
- for a resource deleted now: the version the row's ingestion left (the report as it
  was stored, deleted by the later row that replaced it, in order), or a deletion when
  a later row of the patient was delivered already;
- what those refer to and the row does not name, as stored now (the earlier report's
  encounter, which its superseded DocumentReference names); when deleted now, with its
  last content, then deleted again by the second Bundle.

Deleted by the second Bundle: what the ingestion deleted (the Observations and the
DiagnosticReport of the report it replaced), and what the row holds that is deleted
now when a later row of the patient was delivered already (a dead row retried late
must not bring back a replaced report).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bridge.forwarding.errors import MissingResource
from bridge.forwarding.outbox import OutboxRow
from bridge.mapping import dumps
from bridge.store import ResourceDeleted, ResourceNotFound, Store

__all__ = ["transactions"]


def transactions(store: Store, row: OutboxRow, base: str, *, later_delivered: bool) -> list[bytes]:
    """The Bundles of `row` for the destination at `base`, serialised, in order: its PUTs,
    then its DELETEs (when it deletes anything)."""
    resources: dict[str, dict[str, Any]] = {}
    deletes = dict.fromkeys(row.delete)  # an ordered set
    for reference, version in row.put:
        resource = _version_to_send(store, reference, version, later_delivered)
        if resource is None:  # deleted now, and to be sent deleted
            deletes[reference] = None
            resource = _last_content(store, reference)
        resources[reference] = resource
    _complete(store, resources, deletes)
    puts = [
        {
            "fullUrl": f"{base}/{reference}",
            "resource": resource,
            "request": {"method": "PUT", "url": reference},
        }
        for reference, resource in resources.items()
    ]
    bundles = [_bundle(puts)]
    if deletes:
        bundles.append(_bundle([{"request": {"method": "DELETE", "url": r}} for r in deletes]))
    return bundles


def _bundle(entries: list[dict[str, Any]]) -> bytes:
    return dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def _version_to_send(
    store: Store, reference: str, version: int, later_delivered: bool
) -> dict[str, Any] | None:
    """The content to PUT (meta aside); None to send the resource deleted."""
    resource_type, _, resource_id = reference.partition("/")
    try:
        return _without_version(store.read(resource_type, resource_id).resource())
    except ResourceDeleted:
        if later_delivered:
            return None
    except ResourceNotFound as exc:
        raise MissingResource(f"{reference} is not in the store") from exc
    try:
        return _without_version(store.vread(resource_type, resource_id, version).resource())
    except ResourceNotFound as exc:
        raise MissingResource(f"{reference} has no version {version}") from exc


def _complete(store: Store, resources: dict[str, dict[str, Any]], deletes: dict[str, None]) -> None:
    """Add what the resources refer to and the Bundle lacks, as stored now; what is
    deleted now goes with its last content, and is deleted again afterwards."""
    pending = [r for resource in resources.values() for r in _references(resource)]
    seen: set[str] = set()
    while pending:
        reference = pending.pop()
        if reference in resources or reference in seen or reference.count("/") != 1:
            continue
        seen.add(reference)
        try:
            resource = _without_version(store.read(*reference.split("/")).resource())
        except ResourceDeleted:
            resource = _last_content(store, reference)
            deletes[reference] = None
        except ResourceNotFound:  # never stored here: nothing to add
            continue
        resources[reference] = resource
        pending += _references(resource)


def _last_content(store: Store, reference: str) -> dict[str, Any]:
    """The newest version of a deleted resource that has content."""
    try:
        versions = store.history(*reference.split("/"))
    except ResourceNotFound as exc:
        raise MissingResource(f"{reference} is not in the store") from exc
    for stored in versions:
        if not stored.deleted:
            return _without_version(stored.resource())
    raise MissingResource(f"{reference} has no version with content")


def _without_version(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v for k, v in resource.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")
    }
    if meta:
        resource["meta"] = meta
    return resource


def _references(node: Any) -> Iterator[str]:
    """The literal references of a resource ("Type/id"), contained ones ("#…") aside."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and not reference.startswith("#"):
            yield reference
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)
