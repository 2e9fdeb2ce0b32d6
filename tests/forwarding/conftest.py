"""Fixtures of the forwarding tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store import Store, open_store


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Store]:
    """The forwarding store of a delivery scenario (SQLite; the claims are tested on both
    engines in test_outbox, and two workers share a PostgreSQL in test_delivery)."""
    store = open_store(f"sqlite:///{tmp_path / 'upstream.sqlite3'}")
    try:
        yield store
    finally:
        store.close()
