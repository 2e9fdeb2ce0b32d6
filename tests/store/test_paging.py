"""Keyset paging: walking every page gives every match once, even while resources are added,
and a cursor is only accepted for the search that gave it."""

from __future__ import annotations

import base64
import json

import pytest

from bridge.store import InvalidSearch, SearchPage, Store, parse_query
from tests.store.resources import observation

SORTS = [None, "date", "-date", "_id", "-_id", "_lastUpdated", "-_lastUpdated", "-date,_id"]


def _page(store: Store, params: list[tuple[str, str]], cursor: str | None) -> SearchPage:
    return store.search(
        parse_query("Observation", params + ([("_cursor", cursor)] if cursor else []))
    )


def _walk(store: Store, params: list[tuple[str, str]], between_pages: object = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    for page_number in range(1000):
        page = _page(store, params, cursor)
        seen += [m.id for m in page.matches]
        if page.next_cursor is None:
            return seen
        assert page.matches, "a page with a next link has matches"
        cursor = page.next_cursor
        if callable(between_pages):
            between_pages(page_number)
    raise AssertionError("paging never ended")


@pytest.fixture
def many(store: Store) -> Store:
    """23 Observations of one patient, some on the same day (ties), two without a date."""
    for i in range(23):
        date = None if i in (4, 17) else f"2024-11-{1 + i % 9:02d}"
        store.put(observation(f"o{i:02d}", patient="p1", date=date))
    store.put(observation("other", patient="p2", date="2024-11-01"))
    return store


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("hot", [False, True], ids=["general", "hot-path"])
def test_walking_every_page(many: Store, sort: str | None, hot: bool) -> None:
    params = [("patient", "p1"), ("_count", "5")]
    if hot:
        params.append(("code", "http://loinc.org|718-7"))
    if sort:
        params.append(("_sort", sort))
    walked = _walk(many, params)
    one_page = [(n, v) for n, v in params if n != "_count"] + [("_count", "100")]
    single = [m.id for m in many.search(parse_query("Observation", one_page)).matches]
    assert walked == single
    assert sorted(walked) == [f"o{i:02d}" for i in range(23)]


@pytest.mark.parametrize("sort", SORTS)
def test_resources_added_while_paging_are_not_a_problem(many: Store, sort: str | None) -> None:
    """New matches may or may not be seen; the ones there before are each seen exactly once."""
    params = [("patient", "p1"), ("_count", "4")] + ([("_sort", sort)] if sort else [])
    added: list[str] = []

    def add(page_number: int) -> None:
        for k in range(2):
            name = f"new{page_number}-{k}"
            date = f"2024-11-{1 + (page_number * 2 + k) % 12:02d}"
            many.put(observation(name, patient="p1", date=date))
            added.append(name)

    walked = _walk(many, params, between_pages=add)
    assert len(walked) == len(set(walked)), "a resource was given twice"
    assert {f"o{i:02d}" for i in range(23)} <= set(walked), "a resource was skipped"
    assert set(walked) <= {f"o{i:02d}" for i in range(23)} | set(added)
    if sort is None:  # insertion order: everything added is after the cursor
        assert set(added) <= set(walked)


def test_the_last_page_has_no_cursor(many: Store) -> None:
    page = many.search(parse_query("Observation", [("patient", "p1"), ("_count", "23")]))
    assert len(page.matches) == 23
    assert page.next_cursor is None
    page = many.search(parse_query("Observation", [("patient", "p1"), ("_count", "22")]))
    assert page.next_cursor is not None
    last = _page(many, [("patient", "p1"), ("_count", "22")], page.next_cursor)
    assert [m.id for m in last.matches] == ["o22"]
    assert last.next_cursor is None


def _cursor_of(many: Store, params: list[tuple[str, str]]) -> str:
    cursor = many.search(parse_query("Observation", params)).next_cursor
    assert cursor is not None
    return cursor


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_tampered_cursor_is_refused(many: Store) -> None:
    params = [("patient", "p1"), ("_count", "5"), ("_sort", "-date")]
    cursor = _cursor_of(many, params)
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [
        "not base64 at all!",
        cursor[:-3],
        _forge([1, 2]),
        _forge({"sort": decoded["sort"]}),
        _forge({"sort": decoded["sort"], "after": decoded["after"][:1]}),
        _forge({"sort": ["r.id"], "after": ["x"]}),
        _forge({"sort": decoded["sort"], "after": ["2024", "x"]}),  # text for numbers
        _forge({"sort": decoded["sort"], "after": [1.5, 2]}),
        _forge({"sort": decoded["sort"], "after": [True, 2]}),
        _forge({"sort": decoded["sort"], "after": [None, 2]}),
        _forge({"sort": decoded["sort"], "after": [2**70, 2]}),
    ]
    for token in forged:
        with pytest.raises(InvalidSearch):
            _page(many, params, token)
    assert len(_page(many, params, cursor).matches) == 5  # the real one still works


def test_a_cursor_belongs_to_its_sort(many: Store) -> None:
    cursor = _cursor_of(many, [("patient", "p1"), ("_count", "5"), ("_sort", "-date")])
    with pytest.raises(InvalidSearch):
        _page(many, [("patient", "p1"), ("_count", "5"), ("_sort", "_id")], cursor)
    with pytest.raises(InvalidSearch):
        _page(many, [("patient", "p1"), ("_count", "5")], cursor)


def test_a_cursor_on_text_keys(many: Store) -> None:
    cursor = _cursor_of(many, [("patient", "p1"), ("_count", "5"), ("_sort", "_id")])
    page = _page(many, [("patient", "p1"), ("_count", "5"), ("_sort", "_id")], cursor)
    assert [m.id for m in page.matches] == ["o05", "o06", "o07", "o08", "o09"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    with pytest.raises(InvalidSearch):
        _page(
            many,
            [("patient", "p1"), ("_count", "5"), ("_sort", "_id")],
            _forge({"sort": decoded["sort"], "after": [5, 5]}),
        )  # a number for the id
