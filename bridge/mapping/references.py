"""References inside a Bundle: from an entry's `fullUrl` (`urn:uuid:…`) to `Type/id`.

A converted document refers between its resources by `fullUrl`, which means nothing
outside the Bundle. Storing a transaction and writing NDJSON both turn those
references into `Type/id`, by the same two steps: `aliases` (which fullUrl is which
resource) and `rewrite_references` (a copy with each such reference replaced).
References to contained resources (`#x`) and to anything that is not a fullUrl of
the Bundle (an absolute URL, an already relative `Type/id`) are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["aliases", "rewrite_references"]


def aliases(
    entries: Iterable[dict[str, Any]], new_id: Callable[[str], str] | None = None
) -> dict[str, str]:
    """fullUrl → "Type/id": a PUT entry is its request URL; a POST entry gets `new_id(type)`
    (the server's choice) when `new_id` is given, and no alias otherwise.

    >>> aliases([{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"},
    ...           "request": {"method": "PUT", "url": "Patient/1"}}])
    {'urn:uuid:1': 'Patient/1'}
    """
    found: dict[str, str] = {}
    for entry in entries:
        full_url = entry.get("fullUrl")
        request = entry.get("request") or {}
        resource = entry.get("resource")
        if not full_url or not isinstance(resource, dict) or not isinstance(request, dict):
            continue
        method = str(request.get("method", "")).upper()
        if method == "PUT":
            found[full_url] = str(request.get("url", "")).partition("?")[0]
        elif method == "POST" and new_id is not None:
            kind = str(resource.get("resourceType"))
            found[full_url] = f"{kind}/{new_id(kind)}"
    return found


def rewrite_references(node: Any, aliases: dict[str, str]) -> Any:
    """A copy of `node` where every `reference` naming a key of `aliases` is its value.

    The caller's resource is left as it was. The copy is made without recursion (a
    client's JSON may nest as deep as its parser allows): each container is copied
    whole (C speed), then its copied containers are visited in turn.

    >>> rewrite_references({"subject": {"reference": "urn:uuid:1"}, "x": [{"reference": "#a"}]},
    ...                    {"urn:uuid:1": "Patient/1"})
    {'subject': {'reference': 'Patient/1'}, 'x': [{'reference': '#a'}]}
    """
    kind = type(node)
    if kind is not dict and kind is not list:
        return node
    copy = node.copy()
    pending = [copy]
    while pending:
        container = pending.pop()
        if type(container) is dict:
            for key, value in container.items():
                kind = type(value)
                if kind is dict or kind is list:
                    container[key] = value = value.copy()
                    pending.append(value)
                elif key == "reference" and value in aliases:
                    container[key] = aliases[value]
        else:
            for i, value in enumerate(container):
                kind = type(value)
                if kind is dict or kind is list:
                    container[i] = value = value.copy()
                    pending.append(value)
    return copy
