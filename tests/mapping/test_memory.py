"""Process-wide memos never keep what documents write: bounded in size and in key length.

The resident memory of a server over hundreds of such conversions is measured by
`bench/memory.py` (`make bench`), not here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import pytest

import bridge.cda
import bridge.mapping
import bridge.terminology
from bridge.caching import MAX_KEY_LENGTH, MEMOS, Memo, key_length
from bridge.mapping import convert
from tests.builders import document, result

MB = 1024 * 1024


def huge(i: int, size: int = MB) -> str:
    return f"{i}-" + "x" * size


def huge_documents() -> list[bytes]:
    """Documents writing attacker-sized values where memoised values come from."""
    documents = [
        document(result(f'<value xsi:type="PQ" value="5.30" unit="{huge(i)}"/>'))
        for i in range(200)
    ]
    large = 64 * 1024
    for i in range(20):
        documents += [
            document(result(time=huge(i, large))),  # effectiveTime
            document(result(), doc_root=huge(i, large)),  # document id: every local id
            document(result(), ins=huge(i, large)),  # the patient's identifier
            document(
                result(code=f'<code code="{huge(i, large)}" codeSystem="2.16.840.1.113883.6.1"/>')
            ),
            document(result(code=f'<code code="1-8" codeSystem="{huge(i, large)}"/>')),
        ]
    return documents


def test_no_attacker_sized_value_stays_in_a_memo() -> None:
    for data in huge_documents():
        convert(data)
    memos = [memo for memo in MEMOS if memo]
    assert memos, "the conversions used no memo at all"
    for memo in MEMOS:
        assert len(memo) <= memo.maxsize, memo
        longest = max(map(key_length, memo), default=0)
        assert longest <= MAX_KEY_LENGTH, f"{memo} keeps a key of {longest} characters"


def test_a_memo_keeps_at_most_maxsize_keys_and_no_long_key() -> None:
    memo: Memo[str, str] = Memo(str.upper, maxsize=3, max_key_length=5)
    words = ("a", "b", "c", "d", "toolong")
    assert [memo(word) for word in words] == ["A", "B", "C", "D", "TOOLONG"]
    assert len(memo) <= 3 and "toolong" not in memo


def test_a_memo_takes_tuples_of_strings_as_keys() -> None:
    pair: Memo[tuple[str, str], str] = Memo("|".join, maxsize=2, max_key_length=4)
    assert pair(("ab", "cd")) == "ab|cd" and ("ab", "cd") in pair
    assert pair(("abc", "de")) == "abc|de" and ("abc", "de") not in pair


def _modules() -> list[object]:
    found = []
    for package in (bridge.cda, bridge.mapping, bridge.terminology):
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            found.append(importlib.import_module(info.name))
    return found


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)  # type: ignore[attr-defined]
def test_functools_caches_only_hold_what_the_project_ships(module: object) -> None:
    """A functools cache has no bound on key length: only argument-free loaders use one
    (the reviewed tables of mappings/); everything keyed by a value is a `Memo`."""
    for name, value in vars(module).items():
        if isinstance(value, functools._lru_cache_wrapper) and value.__module__ == module.__name__:  # type: ignore[attr-defined]
            parameters = inspect.signature(value.__wrapped__).parameters
            assert not parameters, f"{module.__name__}.{name} caches by argument: use a Memo"
