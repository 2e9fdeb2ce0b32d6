"""Transaction and batch Bundles: entries in order, references between them resolved.

POST entries get their id before anything is written, so that references to their
`fullUrl` (urn:uuid:…) become `Type/id`; a conditional create (If-None-Exist) that
finds its match sends those references to the match instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from bridge.errors import BridgeError
from bridge.mapping.references import aliases as bundle_aliases
from bridge.mapping.references import rewrite_references
from bridge.store.records import ConflictError, InvalidResource, Stored, Written, instant
from bridge.store.references import ReferencePolicy, check_references
from bridge.store.writer import Writer

__all__ = ["failure", "write_entries"]


def write_entries(
    writer: Writer,
    entries: list[dict[str, Any]],
    kept: dict[tuple[str, str], Written] | None = None,
    *,
    references: ReferencePolicy | None = None,
) -> list[dict[str, Any]]:
    """Write the entries in order, returning their responses; PUTs of a resource in `kept`
    are left as stored (ingestion keeps what a more recent document wrote).

    `references`: check the references of what the entries write, once all are written
    (see `bridge.store.references`); None for converted documents, whose references
    resolve inside their own Bundle.
    """
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("request", {}), dict):
            raise InvalidResource("a Bundle entry and its request must be objects")
    aliases = bundle_aliases(entries, new_id=_new_id)
    # A conditional create that matches: references go to the match. Each is searched
    # once, here: searched again after references were rewritten to the promised id, it
    # could find a match this one did not and leave those references dangling.
    matches: dict[int, Stored | None] = {}
    for i, entry in enumerate(entries):
        request = entry.get("request") or {}
        if request.get("ifNoneExist") and entry.get("fullUrl") in aliases:
            kind = aliases[entry["fullUrl"]].partition("/")[0]
            matches[i] = existing = writer.existing(kind, request["ifNoneExist"])
            if existing is not None:
                aliases[entry["fullUrl"]] = f"{kind}/{existing.id}"
    # The resources the PUTs write, read in one go rather than one statement each
    writer.prefetch(_put_targets(entries))
    seen: set[tuple[str, str]] = set()
    responses = []
    written: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        request = entry.get("request") or {}
        method = str(request.get("method", "")).upper()
        url = str(request.get("url", ""))
        resource = rewrite_references(entry.get("resource"), aliases)
        if method in ("PUT", "POST", "DELETE"):
            target = _target(method, url, resource, aliases, entry)
            if target in seen:
                raise ConflictError(f"the Bundle writes {target[0]}/{target[1]} twice")
            seen.add(target)
        if method == "PUT":
            if not isinstance(resource, dict):
                raise ConflictError(f"PUT {url} without a resource")
            resource_type, _, resource_id = url.partition("?")[0].partition("/")
            if resource.get("resourceType") != resource_type or resource.get("id") not in (
                None,
                resource_id,
            ):
                raise ConflictError(
                    f"PUT {url}: the resource is {resource.get('resourceType')}"
                    f"/{resource.get('id')}"
                )
            put = (kept or {}).get((resource_type, resource_id)) or writer.put(
                {**resource, "id": resource_id}, if_match=request.get("ifMatch")
            )
            responses.append(_response(put))
            written.append(resource)
        elif method == "POST":
            if not isinstance(resource, dict):
                raise ConflictError(f"POST {url} without a resource")
            promised = aliases.get(entry.get("fullUrl", ""), "").partition("/")[2]
            created = writer.create(
                resource,
                request.get("ifNoneExist"),
                new_id=promised or None,
                existing=matches.get(i, ...),
            )
            responses.append(_response(created))
            written.append(resource)
        elif method == "DELETE":
            resource_type, _, resource_id = url.partition("/")
            if "?" in url or not resource_type or not resource_id or "/" in resource_id:
                raise ConflictError(f"DELETE {url}: only Type/id (no conditional delete)")
            writer.delete(resource_type, resource_id)
            responses.append({"response": {"status": "204 No Content"}})
        else:
            raise ConflictError(f"entry method {method or '(none)'} is not supported here")
    if references is not None:
        check_references(writer.cursor, written, references)
    return responses


def _put_targets(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, id) of every `PUT Type/id` entry."""
    keys = []
    for entry in entries:
        request = entry.get("request") or {}
        kind, _, resource_id = str(request.get("url", "")).partition("?")[0].partition("/")
        if str(request.get("method", "")).upper() == "PUT" and kind and resource_id:
            keys.append((kind, resource_id))
    return keys


def _response(written: Written) -> dict[str, Any]:
    stored = written.stored
    response: dict[str, Any] = {
        "status": "201 Created" if written.created else "200 OK",
        "location": f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}",
        "etag": stored.etag,
        "lastModified": instant(stored.last_updated),
    }
    if not written.changed:
        response["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": f"unchanged: identical to version {stored.version_id}",
                }
            ],
        }
    return {"response": response}


def failure(exc: BridgeError) -> dict[str, Any]:
    status = {
        "not-found": "404 Not Found",
        "deleted": "410 Gone",
        "precondition-failed": "412 Precondition Failed",
        "invalid-search": "400 Bad Request",
        "invalid-resource": "400 Bad Request",
        "unresolved-reference": "422 Unprocessable Entity",
        "query-timeout": "503 Service Unavailable",
    }.get(exc.code, "409 Conflict")
    return {
        "response": {
            "status": status,
            "outcome": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "processing", "diagnostics": str(exc)}],
            },
        }
    }


def _new_id(resource_type: str) -> str:
    """The id the server gives a POST entry."""
    return str(uuid.uuid4())


def _target(
    method: str, url: str, resource: Any, aliases: dict[str, str], entry: dict[str, Any]
) -> tuple[str, str]:
    if method == "POST":
        alias = aliases.get(entry.get("fullUrl", ""), f"{url}/{uuid.uuid4()}")
        kind, _, resource_id = alias.partition("/")
        return kind, resource_id
    kind, _, resource_id = url.partition("?")[0].partition("/")
    return kind, resource_id
