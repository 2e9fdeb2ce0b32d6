"""Documents are parsed in threads that retire every few megabytes (bridge.cda.parsing).

libxml2 keeps every name it meets in a dictionary of the parsing thread: a thread that
parsed documents for the life of a server would keep the names of every document it
ever parsed. Resident memory over documents inventing 10,000 names each is measured by
`bench/memory.py --names`.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from lxml import etree

from bridge.cda import parsing
from bridge.cda.parsing import ParsingThreads, parse_xml


def names(i: int, count: int = 50) -> bytes:
    """A document inventing `count` element and attribute names of its own."""
    return (
        f"<doc{i}>" + "".join(f'<e{i}x{j} a{i}x{j}="1"/>' for j in range(count)) + f"</doc{i}>"
    ).encode()


def test_a_generation_of_threads_retires_once_its_bytes_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[threading.Thread] = []
    parse_here = parsing._parse_here

    def recorded(data: bytes) -> etree._Element:
        used.append(threading.current_thread())
        return parse_here(data)

    monkeypatch.setattr(parsing, "_parse_here", recorded)
    threads = ParsingThreads(budget=len(names(0)) * 3, threads=1)
    roots = [threads.parse(names(i)) for i in range(9)]

    assert [root.tag for root in roots] == [f"doc{i}" for i in range(9)]
    assert threads.generation == 3, "three documents per generation"
    assert len(set(used)) == 3 and used[0] is used[2] and used[3] is not used[2]
    for retired in used[:6]:
        retired.join(timeout=10)  # a retired thread exits (its dictionary with it)
        assert not retired.is_alive()
    # trees parsed by threads now gone still read (their names live with the tree)
    assert roots[0][0].get("a0x0") == "1" and roots[0][0].tag == "e0x0"


def test_concurrent_parses_across_a_change_of_generation_all_succeed() -> None:
    threads = ParsingThreads(budget=len(names(0)) * 2, threads=2)
    with ThreadPoolExecutor(8) as callers:
        roots = list(callers.map(threads.parse, [names(i) for i in range(200)]))
    assert [root.tag for root in roots] == [f"doc{i}" for i in range(200)]
    assert threads.generation >= 50


def test_a_syntax_error_comes_back_to_the_caller_with_its_position() -> None:
    with pytest.raises(etree.XMLSyntaxError):
        ParsingThreads(budget=1 << 20, threads=1).parse(b"<a><b></a>")


def _parse_in_child(data: bytes) -> str:
    return str(parse_xml(data).tag)


def test_a_forked_process_parses_with_threads_of_its_own() -> None:
    parse_xml(names(1))  # the parent's generation exists before the fork
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=fork) as child:
        assert child.submit(_parse_in_child, names(2)).result(timeout=60) == "doc2"
