"""What the store hands back: stored versions, write outcomes, search pages; and its errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.errors import BridgeError

__all__ = [
    "ConflictError",
    "PreconditionFailed",
    "ResourceDeleted",
    "ResourceNotFound",
    "SearchPage",
    "StoreError",
    "Stored",
    "Written",
    "instant",
    "now_micros",
]


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
