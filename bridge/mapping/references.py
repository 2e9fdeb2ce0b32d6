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

    The caller's resource is left as it was. Scalars are kept in place rather than
    passed through a call each (most of a converted document's values are scalars).

    >>> rewrite_references({"subject": {"reference": "urn:uuid:1"}, "x": [{"reference": "#a"}]},
    ...                    {"urn:uuid:1": "Patient/1"})
    {'subject': {'reference': 'Patient/1'}, 'x': [{'reference': '#a'}]}
    """
    kind = type(node)
    if kind is dict:
        out = {}
        for key, value in node.items():
            if type(value) in _CONTAINERS:
                out[key] = rewrite_references(value, aliases)
            elif key == "reference" and value in aliases:
                out[key] = aliases[value]
            else:
                out[key] = value
        return out
    if kind is list:
        return [rewrite_references(v, aliases) if type(v) in _CONTAINERS else v for v in node]
    return node


_CONTAINERS = (dict, list)
