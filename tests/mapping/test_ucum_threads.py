"""The UCUM grammar is built once, safely, and an internal failure is never a clinical answer.

Twenty threads converting one document from a cold process all get the same Bundle, its
g/L value coded in UCUM; a grammar that fails to build or parse propagates its error
instead of making a unit "not UCUM" (text only, never converted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import ucumvert
import ucumvert.parser

from bridge.errors import ConversionRefused
from bridge.mapping import convert, dumps
from bridge.mapping.codes import UCUM
from bridge.mapping.units import is_ucum, read_unit, ucum_parser
from bridge.terminology import ucum
from tests.builders import document, result
from tests.helpers import resources_of

THREADS = 24
GLUCOSE_G_L = document(
    result(
        '<value xsi:type="PQ" value="0.95" unit="g/L"/>',
        code='<code code="2345-7" codeSystem="2.16.840.1.113883.6.1" displayName="Glucose"/>',
    )
)


def cold_start() -> None:
    """Forget the UCUM grammar and every memoised answer about units (the unit registry,
    slower to build and built the same way, is kept)."""
    ucum_parser.reset()
    for memo in (read_unit, is_ucum, ucum._quantity, ucum._factor):
        memo.clear()


@pytest.fixture
def cold() -> Iterator[None]:
    cold_start()
    yield
    cold_start()  # nothing a test broke is kept for the next one


def all_at_once(work: Any, threads: int = THREADS) -> list[Any]:
    barrier = threading.Barrier(threads)

    def run(_: int) -> Any:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def test_threads_converting_from_a_cold_start_agree(cold: None) -> None:
    bundles = all_at_once(lambda: dumps(convert(GLUCOSE_G_L).bundle))
    assert len(set(bundles)) == 1
    [observation] = resources_of(convert(GLUCOSE_G_L).bundle, "Observation")
    assert observation["valueQuantity"]["system"] == UCUM
    assert observation["valueQuantity"]["code"] == "g/L"


def test_the_grammar_is_built_once_however_many_threads_ask(
    cold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = []
    build = ucumvert.get_ucum_parser

    def slow_build(*args: Any) -> Any:
        builds.append(threading.get_ident())
        time.sleep(0.05)  # widen the window in which other threads ask
        return build(*args)

    monkeypatch.setattr(ucumvert, "get_ucum_parser", slow_build)
    parsers = all_at_once(ucum_parser)
    assert len(builds) == 1
    assert len({id(parser) for parser in parsers}) == 1


def test_a_grammar_that_fails_to_build_is_an_error_not_a_verdict(
    cold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("grammar build failed")

    monkeypatch.setattr(ucumvert, "get_ucum_parser", broken)
    with pytest.raises(RuntimeError, match="grammar build failed"):
        convert(GLUCOSE_G_L)
    monkeypatch.undo()
    assert read_unit("g/L").code == "g/L"  # the next call builds it


def test_a_parser_failure_is_an_error_not_a_verdict(
    cold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(code: str, parser: Any = None) -> Any:
        raise KeyError("inside the parser")

    monkeypatch.setattr(ucumvert.parser, "parse_ucum", failing)
    with pytest.raises(KeyError):
        is_ucum("g/L")
    assert "g/L" not in is_ucum  # nothing was memoised


def test_what_the_grammar_refuses_is_not_ucum(cold: None) -> None:
    assert read_unit("unités").code is None
    assert read_unit("g/L").code == "g/L"


def test_a_registry_failure_is_an_error_not_a_refusal(
    cold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ucum._registry()

    def failing(code: str) -> Any:
        raise ZeroDivisionError("inside pint")

    monkeypatch.setattr(registry, "from_ucum", failing)
    with pytest.raises(ZeroDivisionError):
        ucum.ucum_factor("g/L", "g/dL")


def test_what_pint_cannot_convert_is_refused(cold: None) -> None:
    with pytest.raises(ConversionRefused) as refused:
        ucum.dimensionality("[pH]")  # UCUM, but pint has no such unit
    assert refused.value.reason == "unit-unknown"
