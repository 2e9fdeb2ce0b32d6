"""Shared fixtures, and a watch over every log record the suite makes the product write."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.api.observability import JsonFormatter
from bridge.store import Store
from tests.helpers import CORPUS, document_identifiers
from tests.stores import ENGINES, open_test_store

# The product's loggers and the libraries it serves with; the test clients' own logs
# (httpx, httpcore: the requests the tests send) are theirs, not the product's.
WATCHED_LOGGERS = ("", "bridge", "uvicorn", "psycopg", "aiohttp", "fhirpy", "asyncio")
CLIENT_LOGGERS = ("httpx", "httpcore")


class IdentifierWatch(logging.Handler):
    """Formats each record as the server writes it (JsonFormatter) and keeps the lines
    that name an identifier of the test documents."""

    def __init__(self, identifiers: set[str]) -> None:
        super().__init__(logging.DEBUG)
        self.pattern = re.compile("|".join(map(re.escape, sorted(identifiers, key=len)[::-1])))
        self.formatter_ = JsonFormatter()
        self.records = 0
        self.leaks: list[str] = []
        self._last: logging.LogRecord | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record is self._last or record.name.startswith(CLIENT_LOGGERS):
            return  # the same record again, met on its way up to the root logger
        self._last = record
        self.records += 1
        line = self.formatter_.format(record)
        if self.pattern.search(line):
            self.leaks.append(line)


@pytest.fixture(scope="session", autouse=True)
def logs_never_name_patients() -> Iterator[IdentifierWatch]:
    """Every log line of the whole run, errors included, checked for the INS, names and
    document ids of the test documents; the run fails at its end if one leaked."""
    watch = IdentifierWatch(document_identifiers())
    product = logging.getLogger("bridge")
    level = product.level
    product.setLevel(logging.DEBUG)  # everything the product says, whatever the run's level
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(watch)
    yield watch
    for logger in loggers:
        logger.removeHandler(watch)
    product.setLevel(level)
    if watch.leaks:
        leaks = "\n".join(watch.leaks[:10])
        pytest.fail(f"{len(watch.leaks)} log line(s) name a patient or a document:\n{leaks}")


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
