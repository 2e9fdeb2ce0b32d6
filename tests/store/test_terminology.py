"""The store as the terminology service's TerminologyStore: versioned resources and a cache."""

from __future__ import annotations

from decimal import Decimal

from bridge.store import Store, parse_query
from bridge.terminology.store import SqliteTerminologyStore, TerminologyStore

URL = "https://smt.esante.gouv.fr/fhir/ConceptMap/example"


def _conceptmap(version: str | None, marker: str) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "ConceptMap",
        "url": URL,
        "name": marker,
        "extension": [{"url": "x", "valueDecimal": Decimal("0.70")}],
    }
    if version is not None:
        resource["version"] = version
    return resource


def test_it_is_a_terminology_store(store: Store) -> None:
    def accepts(terminology: TerminologyStore) -> TerminologyStore:
        return terminology

    assert accepts(store) is store


def test_versions_are_kept_and_the_latest_saved_is_the_default(store: Store) -> None:
    assert store.get_resource("ConceptMap", URL) is None
    assert store.versions("ConceptMap", URL) == []
    store.put_resource(_conceptmap("2023", "old"))
    store.put_resource(_conceptmap("2024", "new"))
    assert [v for v, _ in store.versions("ConceptMap", URL)] == ["2023", "2024"]
    assert store.get_resource("ConceptMap", URL)["name"] == "new"  # type: ignore[index]
    assert store.get_resource("ConceptMap", URL, "2023")["name"] == "old"  # type: ignore[index]
    assert store.get_resource("ConceptMap", URL, "2025") is None
    assert store.get_resource("CodeSystem", URL) is None  # the type is part of the key


def test_saving_a_version_again_replaces_it(store: Store) -> None:
    store.put_resource(_conceptmap("2023", "first"))
    store.put_resource(_conceptmap("2024", "other"))
    store.put_resource(_conceptmap("2023", "second"))
    # newest by declared version, whatever the order of import
    assert [v for v, _ in store.versions("ConceptMap", URL)] == ["2023", "2024"]
    assert store.get_resource("ConceptMap", URL, "2023")["name"] == "second"  # type: ignore[index]
    assert store.get_resource("ConceptMap", URL)["name"] == "second"  # type: ignore[index]


def test_a_resource_without_version(store: Store) -> None:
    store.put_resource(_conceptmap(None, "unversioned"))
    assert [v for v, _ in store.versions("ConceptMap", URL)] == [""]
    found = store.get_resource("ConceptMap", URL)
    assert found is not None and found["name"] == "unversioned"
    assert found["extension"][0]["valueDecimal"] == Decimal("0.70")  # decimals as written
    assert str(found["extension"][0]["valueDecimal"]) == "0.70"


def test_terminology_resources_are_not_fhir_resources(store: Store) -> None:
    store.put_resource(_conceptmap("2024", "x"))
    assert store.search(parse_query("ConceptMap", [])).matches == []


def test_written_conceptmaps_are_found_by_url_and_version_newest_first(store: Store) -> None:
    odd_url = "https://example.org/fhir/ConceptMap/a,b|c"  # a comma and a bar, as written
    assert store.written_conceptmap(odd_url) is None
    store.put({**_conceptmap("1", "first"), "id": "m1", "url": odd_url})
    store.put({**_conceptmap("2", "second"), "id": "m2", "url": odd_url})
    store.put({**_conceptmap("1", "elsewhere"), "id": "m3"})  # another url
    newest = store.written_conceptmap(odd_url)
    assert newest is not None and newest.id == "m2" and newest.resource()["name"] == "second"
    first = store.written_conceptmap(odd_url, "1")
    assert first is not None and first.id == "m1"
    assert store.written_conceptmap(odd_url, "3") is None
    store.put({**_conceptmap("1", "first, again"), "id": "m1", "url": odd_url})
    again = store.written_conceptmap(odd_url)
    assert again is not None and again.id == "m1" and again.version_id == 2
    store.delete("ConceptMap", "m1")
    store.delete("ConceptMap", "m2")
    assert store.written_conceptmap(odd_url) is None


def test_imported_terminology_is_not_a_written_conceptmap(store: Store) -> None:
    store.put_resource(_conceptmap("2024", "imported"))
    assert store.written_conceptmap(URL) is None
    standalone = SqliteTerminologyStore()
    standalone.put_resource(_conceptmap("2024", "imported"))
    assert standalone.written_conceptmap(URL) is None
    standalone.close()


def test_cache(store: Store) -> None:
    assert store.cache_get("translate|a") is None
    store.cache_put("translate|a", {"result": True, "score": Decimal("1.0")}, 1_700_000_000.5)
    value, expires = store.cache_get("translate|a")  # type: ignore[misc]
    assert value == {"result": True, "score": Decimal("1.0")}
    assert expires == 1_700_000_000.5
    store.cache_put("translate|a", {"result": False}, 1_800_000_000.25)
    assert store.cache_get("translate|a") == ({"result": False}, 1_800_000_000.25)
    assert store.cache_get("translate|b") is None


def test_same_answers_as_the_sqlite_terminology_store(store: Store) -> None:
    """The FHIR store and the standalone SQLite file answer alike."""
    reference = SqliteTerminologyStore()
    try:
        for target in (store, reference):
            target.put_resource(_conceptmap("1", "a"))
            target.put_resource(_conceptmap("2", "b"))
            target.cache_put("k", {"v": 1}, 42.0)
        versions = [[v for v, _ in t.versions("ConceptMap", URL)] for t in (store, reference)]
        assert versions[0] == versions[1] == ["1", "2"]
        for method, args in (
            ("get_resource", ("ConceptMap", URL)),
            ("get_resource", ("ConceptMap", URL, "1")),
            ("cache_get", ("k",)),
        ):
            assert getattr(store, method)(*args) == getattr(reference, method)(*args)
    finally:
        reference.close()
