"""Searchset and history Bundles, built around the stored JSON without parsing it again.

Stored resources are already serialised; they go into the Bundle as orjson
Fragments, so a page of results costs one serialisation of the envelope only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from bridge.mapping import dumps
from bridge.store import SearchPage, Stored
from bridge.store.records import instant

__all__ = ["history_bundle", "search_bundle"]


def _entry(base: str, stored: Stored, mode: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fullUrl": f"{base}/{stored.resource_type}/{stored.id}",
        "resource": orjson.Fragment(stored.content),
    }
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def search_bundle(
    base: str, resource_type: str, page: SearchPage, understood: list[tuple[str, str]]
) -> bytes:
    """The searchset: `self` with the parameters understood, `next` with an opaque cursor."""
    link_base = f"{base}/{resource_type}"
    self_url = f"{link_base}?{urlencode(understood)}" if understood else link_base
    links = [{"relation": "self", "url": self_url}]
    if page.next_cursor:
        links.append(
            {
                "relation": "next",
                "url": f"{link_base}?{urlencode([*understood, ('_cursor', page.next_cursor)])}",
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    entries = [_entry(base, s, "match") for s in page.matches]
    entries += [_entry(base, s, "include") for s in page.included]
    if entries:
        bundle["entry"] = entries
    return dumps(bundle)


def history_bundle(base: str, versions: list[Stored]) -> bytes:
    entries = []
    for stored in versions:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{stored.resource_type}/{stored.id}"}
        if not stored.deleted:
            entry["resource"] = orjson.Fragment(stored.content)
        entry["request"] = {
            "method": "DELETE" if stored.deleted else ("POST" if stored.version_id == 1 else "PUT"),
            "url": f"{stored.resource_type}/{stored.id}",
        }
        entry["response"] = {
            "status": "204 No Content" if stored.deleted else "200 OK",
            "etag": stored.etag,
            "lastModified": instant(stored.last_updated),
        }
        entries.append(entry)
    return dumps(
        {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}
    )
