"""The references a client writes: well-formed, resolvable, and (by policy) present.

Checked inside the write transaction, after its writes, so that what the same
transaction Bundle creates counts as present:

- `#id` must name a contained resource of the same resource (`#` alone: the container);
- `urn:uuid:` / `urn:oid:` must be the fullUrl of an entry of the Bundle (they are
  rewritten to `Type/id` before this check: one still here resolves nowhere);
- a relative reference must read `Type/id` or `Type/id/_history/vid`, with FHIR ids;
- absolute URIs (another server's URL) are left alone;
- with the policy "reject" (the default), every `Type/id` must be a current resource
  of the store; "allow" stores references to what it does not hold.

Converted documents are not checked here: their references resolve inside their own
Bundle by construction (tests/helpers.py `validate_bundle` holds them to it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from bridge.store.database import Cursor
from bridge.store.records import InvalidResource, UnresolvedReference

__all__ = ["POLICIES", "ReferencePolicy", "check_references", "references_of"]

ReferencePolicy = Literal["reject", "allow"]
POLICIES: tuple[ReferencePolicy, ...] = ("reject", "allow")

_RELATIVE = re.compile(
    r"(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")  # another server's URL, a URN…
_CHUNK = 500  # ids per IN list


def references_of(resource: dict[str, Any]) -> Iterator[str]:
    """Every `reference` string of a resource, contained resources included (no recursion:
    depth is bounded where the JSON is read, not here)."""
    pending: list[Any] = [resource]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    yield value
                elif isinstance(value, dict | list):
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(v for v in node if isinstance(v, dict | list))


def check_references(
    cursor: Cursor, resources: Iterable[dict[str, Any]], policy: ReferencePolicy
) -> None:
    """Raise InvalidResource (malformed, unresolvable) or UnresolvedReference (absent)."""
    wanted: dict[str, set[str]] = {}
    for resource in resources:
        contained = {
            f"#{c.get('id')}" for c in resource.get("contained", ()) if isinstance(c, dict)
        }
        for reference in references_of(resource):
            if reference.startswith("#"):
                if reference != "#" and reference not in contained:
                    raise InvalidResource(
                        f"reference {reference} names no contained resource of "
                        f"{resource.get('resourceType')}"
                    )
            elif reference.startswith(("urn:uuid:", "urn:oid:")):
                raise InvalidResource(
                    f"reference {reference} is not the fullUrl of an entry of the Bundle"
                )
            elif (found := _RELATIVE.fullmatch(reference)) is not None:
                wanted.setdefault(found["type"], set()).add(found["id"])
            elif not _ABSOLUTE.fullmatch(reference):
                raise InvalidResource(
                    f"reference {reference[:100]!r} is neither Type/id, a fullUrl of the "
                    "Bundle, #contained nor an absolute URL"
                )
    if policy == "reject":
        for resource_type, ids in sorted(wanted.items()):
            missing = ids - _present(cursor, resource_type, sorted(ids))
            if missing:
                raise UnresolvedReference(
                    f"reference {resource_type}/{min(missing)} names no resource of this "
                    "server (the reference policy rejects references to absent resources)"
                )


def _present(cursor: Cursor, resource_type: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(
            f"SELECT id FROM resource WHERE resource_type = ? AND id IN ({marks}) AND NOT deleted",
            [resource_type, *chunk],
        )
        found.update(row[0] for row in cursor.fetchall())
    return found
