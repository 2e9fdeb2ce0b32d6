"""What the store hands back: stored versions, write outcomes, search pages; and its errors."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.errors import BridgeError

__all__ = [
    "MAX_VERSION_ID",
    "ConflictError",
    "InvalidResource",
    "PreconditionFailed",
    "QueryCancelled",
    "QueryTimeout",
    "ResourceDeleted",
    "ResourceNotFound",
    "SearchPage",
    "StoreError",
    "Stored",
    "UnresolvedReference",
    "Written",
    "check_id",
    "instant",
    "now_micros",
]

# FHIR's id (http://hl7.org/fhir/R4/datatypes.html#id): the same rule on every path
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_VERSION_ID = 2**31 - 1  # version ids are INTEGER columns on both engines


class StoreError(BridgeError):
    code = "store-error"


class ResourceNotFound(StoreError, LookupError):
    """No such resource (or version): 404."""

    code = "not-found"


class ResourceDeleted(ResourceNotFound):
    """The resource existed and was deleted: 410."""

    code = "deleted"


class PreconditionFailed(StoreError):
    """If-Match did not match the current version, or If-None-Exist matched several: 412."""

    code = "precondition-failed"


class ConflictError(StoreError):
    """The request contradicts itself or the store (two entries for one resource): 409."""

    code = "conflict"


class InvalidResource(StoreError, ValueError):
    """An id or a reference that breaks FHIR's rules; nothing is written: 400."""

    code = "invalid-resource"


class UnresolvedReference(StoreError, LookupError):
    """A reference to a resource the store does not hold (reference policy "reject"): 422."""

    code = "unresolved-reference"


class QueryTimeout(StoreError):
    """A statement ran past the configured statement timeout and was stopped: 503."""

    code = "query-timeout"


class QueryCancelled(StoreError):
    """A statement was stopped because the client that asked for it went away."""

    code = "query-cancelled"


def check_id(resource_type: str, resource_id: str) -> None:
    """Refuse an id FHIR does not allow (`[A-Za-z0-9\\-.]{1,64}`), before any SQL sees it."""
    if not ID.fullmatch(resource_id):
        raise InvalidResource(
            f"{resource_type} id is not a FHIR id: 1 to 64 letters, digits, '-' or '.'"
        )


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource as stored: its JSON is kept as bytes, never parsed again
    unless someone needs the resource itself."""

    resource_type: str
    id: str
    version_id: int
    last_updated: int  # epoch microseconds
    content: bytes  # the resource JSON, meta included
    deleted: bool = False

    def resource(self) -> dict[str, Any]:
        return json.loads(self.content, parse_float=Decimal)  # type: ignore[no-any-return]

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'


@dataclass(frozen=True, slots=True)
class Written:
    stored: Stored
    created: bool
    changed: bool  # False when the content was already stored (nothing written)


@dataclass(slots=True)
class SearchPage:
    matches: list[Stored]
    included: list[Stored] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(micros: int) -> str:
    """Epoch microseconds → FHIR instant (UTC, to the microsecond)."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_micros() -> int:
    return time.time_ns() // 1000
