"""Store layer: FHIR resources, history and search on SQLite (default) or PostgreSQL."""

from __future__ import annotations

from bridge.store.database import open_database
from bridge.store.records import ConflictError as ConflictError
from bridge.store.records import InvalidResource as InvalidResource
from bridge.store.records import PreconditionFailed as PreconditionFailed
from bridge.store.records import QueryCancelled as QueryCancelled
from bridge.store.records import QueryTimeout as QueryTimeout
from bridge.store.records import ResourceDeleted as ResourceDeleted
from bridge.store.records import ResourceNotFound as ResourceNotFound
from bridge.store.records import SearchPage as SearchPage
from bridge.store.records import Stored as Stored
from bridge.store.records import StoreError as StoreError
from bridge.store.records import UnresolvedReference as UnresolvedReference
from bridge.store.records import Written as Written
from bridge.store.repository import AfterIngest as AfterIngest
from bridge.store.repository import Store as Store
from bridge.store.search import InvalidSearch as InvalidSearch
from bridge.store.search import Query as Query
from bridge.store.search import parse_query as parse_query

__all__ = [
    "AfterIngest",
    "ConflictError",
    "InvalidResource",
    "InvalidSearch",
    "PreconditionFailed",
    "Query",
    "QueryCancelled",
    "QueryTimeout",
    "ResourceDeleted",
    "ResourceNotFound",
    "SearchPage",
    "Store",
    "StoreError",
    "Stored",
    "UnresolvedReference",
    "Written",
    "open_store",
    "parse_query",
]


def open_store(url: str) -> Store:
    """A store on `sqlite:///path` (created and migrated) or `postgresql://…`."""
    return Store(open_database(url))
