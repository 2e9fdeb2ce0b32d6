"""The transaction Bundle that delivers one outbox row, read from the store at delivery.

Every resource goes as `PUT Type/id` with its stable id, so a delivery repeated after a
crash or a lost answer changes nothing downstream. The content is the store's, meta
aside (the destination keeps its own versions), with decimals exactly as stored.

Which version of each resource:
- the version the row's ingestion left (written, or kept as a more recent document
  wrote it): the Bundle is then the document as it was stored, complete, every
  reference resolving inside it, even when a later document has replaced the report
  since (the later row deletes it, in order);
- a newer version when everything it refers to is in the Bundle too (a superseded
  DocumentReference, a laboratory's new address): the destination never goes back to
  an older content that way. A newer version that refers elsewhere (the request a
  replacement points at its own encounter) waits for the row that carries it;
- what those refer to and the row does not name (the earlier report's encounter, which
  its superseded DocumentReference names), as stored now;
- `DELETE Type/id` for what the ingestion deleted (the Observations and the
  DiagnosticReport of the report it replaced), and for what is deleted now when a
  later row of the patient was delivered already (a dead row retried late must not
  bring back a replaced report).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bridge.forwarding.errors import MissingResource
from bridge.forwarding.outbox import OutboxRow
from bridge.mapping import dumps
from bridge.store import ResourceDeleted, ResourceNotFound, Store, Stored

__all__ = ["transaction"]


def transaction(store: Store, row: OutboxRow, base: str, *, later_delivered: bool) -> bytes:
    """The Bundle of `row` for the destination at `base`, serialised."""
    inside = {reference for reference, _ in row.put}
    resources: dict[str, dict[str, Any]] = {}
    deletes = list(row.delete)
    for reference, version in row.put:
        resource = _version_to_send(store, reference, version, inside, later_delivered)
        if resource is None:
            deletes.append(reference)
        else:
            resources[reference] = resource
    _complete(store, resources, skip=set(deletes))
    entries = [
        {
            "fullUrl": f"{base}/{reference}",
            "resource": resource,
            "request": {"method": "PUT", "url": reference},
        }
        for reference, resource in resources.items()
    ]
    entries += [{"request": {"method": "DELETE", "url": reference}} for reference in deletes]
    return dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def _complete(store: Store, resources: dict[str, dict[str, Any]], skip: set[str]) -> None:
    """Add, as stored now, what the Bundle's resources refer to and it lacks: the earlier
    report's encounter and Binary a superseded DocumentReference names, for instance."""
    pending = [r for resource in resources.values() for r in _references(resource)]
    while pending:
        reference = pending.pop()
        if reference in resources or reference in skip or reference.count("/") != 1:
            continue
        skip.add(reference)
        try:
            resource = store.read(*reference.split("/")).resource()
        except ResourceNotFound:  # deleted, or never stored: nothing to add
            continue
        resources[reference] = _without_version(resource)
        pending += _references(resource)


def _version_to_send(
    store: Store, reference: str, version: int, inside: set[str], later_delivered: bool
) -> dict[str, Any] | None:
    """The content to PUT (meta aside); None to send the resource deleted."""
    resource_type, _, resource_id = reference.partition("/")
    try:
        current: Stored | None = store.read(resource_type, resource_id)
    except ResourceDeleted:
        if later_delivered:
            return None
        current = None
    except ResourceNotFound as exc:
        raise MissingResource(f"{reference} is not in the store") from exc
    if current is not None and current.version_id >= version:
        resource = current.resource()
        if current.version_id == version or set(_references(resource)) <= inside:
            return _without_version(resource)
    try:
        return _without_version(store.vread(resource_type, resource_id, version).resource())
    except ResourceNotFound as exc:
        raise MissingResource(f"{reference} has no version {version}") from exc


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
