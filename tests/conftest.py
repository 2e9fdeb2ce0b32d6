"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store import Store
from tests.helpers import CORPUS
from tests.stores import ENGINES, open_test_store


@pytest.fixture
def corpus() -> Path:
    """The public ANS examples folder; the test is skipped when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"ANS corpus not found at {CORPUS} (set CRBIO_CORPUS to its folder)")
    return CORPUS


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs once on SQLite and once on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def store(engine: str, tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store on the engine of the run."""
    with open_test_store(engine, tmp_path) as opened:
        yield opened
