"""Versioned reads and writes: put, read, vread, history, delete, create (If-None-Exist)."""

from __future__ import annotations

import pytest

from bridge.store import (
    ConflictError,
    InvalidSearch,
    PreconditionFailed,
    ResourceDeleted,
    ResourceNotFound,
    Store,
)
from bridge.store.records import instant
from tests.store.resources import INS, observation, patient, row_counts, search_ids


def test_put_creates_version_1_with_meta(store: Store) -> None:
    written = store.put(patient("p1", "GARNIER", "LUCIEN"))
    assert (written.created, written.changed) == (True, True)
    assert written.stored.version_id == 1
    assert written.stored.etag == 'W/"1"'
    stored = store.read("Patient", "p1")
    resource = stored.resource()
    assert resource["meta"]["versionId"] == "1"
    assert resource["meta"]["lastUpdated"] == instant(stored.last_updated)
    assert resource["meta"]["lastUpdated"].endswith("Z")
    assert resource["name"] == [{"family": "GARNIER", "given": ["LUCIEN"]}]
    assert stored.content == written.stored.content


def test_update_increments_the_version_and_keeps_history(store: Store) -> None:
    store.put(patient("p1", "GARNIER"))
    second = store.put(patient("p1", "DUPONT"))
    third = store.put(patient("p1", "MARTIN"))
    assert (second.created, second.changed, second.stored.version_id) == (False, True, 2)
    assert third.stored.version_id == 3
    assert store.read("Patient", "p1").resource()["meta"]["versionId"] == "3"
    assert [s.version_id for s in store.history("Patient", "p1")] == [3, 2, 1]
    first = store.vread("Patient", "p1", 1).resource()
    assert first["name"][0]["family"] == "GARNIER"
    assert first["meta"]["versionId"] == "1"
    assert store.vread("Patient", "p1", 2).resource()["name"][0]["family"] == "DUPONT"
    with pytest.raises(ResourceNotFound):
        store.vread("Patient", "p1", 4)


def test_unchanged_content_is_a_no_op(store: Store) -> None:
    """The same resource again, with other meta.versionId/lastUpdated, writes nothing."""
    first = store.put(patient("p1", "GARNIER"))
    counts = row_counts(store)
    again = store.put(
        {
            **patient("p1", "GARNIER"),
            "meta": {"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z"},
        }
    )
    assert (again.created, again.changed) == (False, False)
    assert again.stored.version_id == 1
    assert again.stored.last_updated == first.stored.last_updated
    assert row_counts(store) == counts
    assert len(store.history("Patient", "p1")) == 1


def test_other_meta_is_content(store: Store) -> None:
    store.put(patient("p1"))
    written = store.put({**patient("p1"), "meta": {"profile": ["http://example.org/p"]}})
    assert (written.changed, written.stored.version_id) == (True, 2)
    assert store.read("Patient", "p1").resource()["meta"]["profile"] == ["http://example.org/p"]


def test_if_match(store: Store) -> None:
    store.put(patient("p1", "GARNIER"))
    store.put(patient("p1", "DUPONT"))
    with pytest.raises(PreconditionFailed):
        store.put(patient("p1", "MARTIN"), if_match='W/"1"')
    assert store.read("Patient", "p1").version_id == 2
    written = store.put(patient("p1", "MARTIN"), if_match='W/"2"')
    assert written.stored.version_id == 3
    assert store.put(patient("p1", "LEROY"), if_match="3").stored.version_id == 4
    with pytest.raises(PreconditionFailed):
        store.put(patient("p2"), if_match='W/"1"')  # nothing to match
    with pytest.raises(ResourceNotFound):
        store.read("Patient", "p2")


def test_a_resource_needs_type_and_id(store: Store) -> None:
    with pytest.raises(ConflictError):
        store.put({"resourceType": "Patient"})
    with pytest.raises(ConflictError):
        store.put({"id": "x"})


def test_read_unknown(store: Store) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        store.read("Patient", "nobody")
    assert not isinstance(caught.value, ResourceDeleted)
    with pytest.raises(ResourceNotFound):
        store.history("Patient", "nobody")


def test_delete_keeps_history(store: Store) -> None:
    store.put(observation("o1", date="2024-11-10"))
    store.put(observation("o1", date="2024-11-11"))
    store.delete("Observation", "o1")
    with pytest.raises(ResourceDeleted):
        store.read("Observation", "o1")
    history = store.history("Observation", "o1")
    assert [(s.version_id, s.deleted) for s in history] == [(3, True), (2, False), (1, False)]
    assert history[0].content == b""
    assert history[1].resource()["effectiveDateTime"] == "2024-11-11"
    with pytest.raises(ResourceDeleted):
        store.vread("Observation", "o1", 3)
    assert store.vread("Observation", "o1", 1).resource()["effectiveDateTime"] == "2024-11-10"
    assert search_ids(store, "Observation", ("code", "718-7")) == set()
    assert search_ids(store, "Observation") == set()
    counts = row_counts(store)
    assert counts["observation_hot"] == counts["idx_token"] == counts["idx_date"] == 0


def test_delete_twice_and_delete_unknown_change_nothing(store: Store) -> None:
    store.put(patient("p1"))
    store.delete("Patient", "p1")
    counts = row_counts(store)
    store.delete("Patient", "p1")
    store.delete("Patient", "nobody")
    assert row_counts(store) == counts
    assert len(store.history("Patient", "p1")) == 2


def test_put_after_delete_recreates_with_the_next_version(store: Store) -> None:
    store.put(patient("p1", "GARNIER"))
    store.delete("Patient", "p1")
    with pytest.raises(PreconditionFailed):
        store.put(patient("p1", "GARNIER"), if_match='W/"2"')  # a deletion is not a match
    written = store.put(patient("p1", "GARNIER"))
    assert (written.created, written.changed, written.stored.version_id) == (True, True, 3)
    assert store.read("Patient", "p1").version_id == 3
    assert search_ids(store, "Patient", ("family", "garnier")) == {"p1"}
    assert [s.deleted for s in store.history("Patient", "p1")] == [False, True, False]


def test_create_assigns_a_new_id(store: Store) -> None:
    first = store.create(patient("ignored", "GARNIER"))
    second = store.create(patient("ignored", "GARNIER"))
    assert first.created and second.created
    assert first.stored.id != second.stored.id
    assert "ignored" not in (first.stored.id, second.stored.id)
    assert store.read("Patient", first.stored.id).resource()["id"] == first.stored.id


def test_create_if_none_exist(store: Store) -> None:
    """0 matches: created; 1: the existing one is returned; 2 or more: 412."""
    ins = f"identifier={INS}|1680569383214"
    created = store.create(patient("x", "GARNIER", ins="1680569383214"), if_none_exist=ins)
    assert (created.created, created.changed) == (True, True)
    again = store.create(patient("x", "GARNIER", ins="1680569383214"), if_none_exist="?" + ins)
    assert (again.created, again.changed) == (False, False)
    assert again.stored.id == created.stored.id
    assert search_ids(store, "Patient") == {created.stored.id}
    store.put(patient("twin", "GARNIER", ins="1680569383214"))
    with pytest.raises(PreconditionFailed):
        store.create(patient("x", "GARNIER", ins="1680569383214"), if_none_exist=ins)
    assert len(search_ids(store, "Patient")) == 2


def test_create_if_none_exist_refuses_what_it_cannot_understand(store: Store) -> None:
    """An unknown parameter must not be dropped: the condition would match everything."""
    store.put(patient("p1", "GARNIER"))
    with pytest.raises(InvalidSearch):
        store.create(patient("x", "DUPONT"), if_none_exist="no-such-parameter=1")
    with pytest.raises(InvalidSearch):
        store.create(patient("x", "DUPONT"), if_none_exist="birthdate=yesterday")
    assert search_ids(store, "Patient") == {"p1"}
