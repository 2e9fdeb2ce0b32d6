"""Process-wide memory: memo tables bounded in size and key length, and values built once.

A server converts documents for months. A memo keyed by what documents contain
(units, OIDs, timestamps, document ids) must not keep what an attacker writes there:
a `Memo` holds at most `maxsize` keys and never keeps a key longer than
`MAX_KEY_LENGTH` characters (it computes the value every time instead). Real keys are
short (an OID, a UCUM unit, a timestamp), so every real document is still served from
memory. A full memo is emptied and refills with what the documents of the moment use.

A `Memo` is a dict: a hit is one dict look-up, with no Python call at all, cheaper
than `functools.lru_cache` (a conversion asks thousands of times).

`built_once` builds an expensive shared object (a grammar, a unit registry) on first
use, exactly once even when twenty threads ask at the same moment: the first builds
under a lock while the others wait for its result. A build that fails raises in the
thread that asked, and the next call tries again; nothing half-built is ever handed out.
All builds share one (re-entrant) lock: the UCUM unit registry builds a UCUM grammar of
its own, and lark grammars are then never built by two threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from functools import update_wrapper
from typing import Any, Generic, TypeVar

__all__ = ["MAX_KEY_LENGTH", "MEMOS", "BuiltOnce", "Memo", "built_once", "key_length", "memoised"]

MAX_KEY_LENGTH = 256  # characters, all the strings of a key together

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
_BUILD_LOCK = threading.RLock()  # builds are rare: one at a time, a build may use another


def key_length(key: Any) -> int:
    """Characters in a key: a string, or a tuple of strings."""
    return len(key) if type(key) is str else sum(map(len, key))


MEMOS: list[Memo[Any, Any]] = []  # every memo of the process, for tests and measurements


class Memo(dict[K, V]):
    """`memo(key)` (or `memo[key]`) is `function(key)`, computed on first use and kept.

    At most `maxsize` keys are kept, none longer than `max_key_length` characters.
    Decorated functions (`memoised`) keep their name and docstring.
    """

    __call__ = dict.__getitem__

    def __init__(
        self, function: Callable[[K], V], maxsize: int, max_key_length: int = MAX_KEY_LENGTH
    ) -> None:
        super().__init__()
        self.function = function
        self.maxsize = maxsize
        self.max_key_length = max_key_length
        update_wrapper(self, function)  # type: ignore[arg-type]
        MEMOS.append(self)

    def __missing__(self, key: K) -> V:
        value = self.function(key)
        if key_length(key) <= self.max_key_length:  # an attacker-sized key is never kept
            if len(self) >= self.maxsize:
                self.clear()
            self[key] = value
        return value

    def __repr__(self) -> str:
        return f"<Memo {self.function.__name__}: {len(self)} of {self.maxsize} keys>"


def memoised(maxsize: int, *, max_key_length: int = MAX_KEY_LENGTH) -> Callable[..., Any]:
    """Decorate a function of one key (a string, or a tuple of strings) as a `Memo`.

    >>> @memoised(2, max_key_length=8)
    ... def shout(word: str) -> str:
    ...     return word.upper()
    >>> shout("oid"), shout("x" * 9) == "X" * 9, len(shout)
    ('OID', True, 1)
    """

    def decorate(function: Callable[[K], V]) -> Memo[K, V]:
        return Memo(function, maxsize, max_key_length)

    return decorate


class BuiltOnce(Generic[T]):
    """The value of a builder, built on first use under a lock (double-checked)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        update_wrapper(self, build)

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with _BUILD_LOCK:
                value = self._value
                if value is None:
                    value = self._value = self._build()
        return value

    def reset(self) -> None:
        """Forget the built value (tests use it to start from a cold process)."""
        with _BUILD_LOCK:
            self._value = None


def built_once(build: Callable[[], T]) -> BuiltOnce[T]:
    """Decorate a builder of a shared object so that it runs once per process, safely."""
    return BuiltOnce(build)
