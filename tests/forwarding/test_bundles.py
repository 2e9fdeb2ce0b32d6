"""The transaction Bundles of a row: complete, by stable ids, the store's content meta aside;
its deletions after its writes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bridge.forwarding import Forwarding, Outbox, parse_config
from bridge.forwarding.bundles import transactions
from bridge.forwarding.errors import DeliveryFailed, MissingResource
from bridge.forwarding.worker import loggable
from bridge.mapping import convert
from bridge.store import ResourceDeleted, Store
from tests.helpers import EXAMPLES, corpus_files, example_files, renumbered

BASE = "http://down.example/fhir"
ORIGINAL, REPLACEMENT = "glucose-two-units.xml", "glucose-replacement.xml"


def _forwarding(store: Store) -> Outbox:
    config = parse_config({"destinations": {"d": {"base": BASE}}})
    Forwarding(store, config).install()
    return Outbox(store)


def _bundles(store: Store, row: Any, later_delivered: bool = False) -> list[dict[str, Any]]:
    bodies = transactions(store, row, BASE, later_delivered=later_delivered)
    return [json.loads(body, parse_float=Decimal) for body in bodies]


def _deleted(bundle: dict[str, Any]) -> set[str]:
    assert {e["request"]["method"] for e in bundle["entry"]} == {"DELETE"}
    assert all(set(e) == {"request"} for e in bundle["entry"])
    return {e["request"]["url"] for e in bundle["entry"]}


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


def assert_complete(bundle: dict[str, Any]) -> None:
    """PUTs only, every reference resolving inside the Bundle (or to a contained resource):
    a server refusing references to what it does not hold takes it."""
    puts = {e["request"]["url"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "PUT"
        resource = entry["resource"]
        assert entry["request"]["url"] == f"{resource['resourceType']}/{resource['id']}"
        assert entry["fullUrl"] == f"{BASE}/{entry['request']['url']}"
        assert "versionId" not in resource.get("meta", {})
        assert "lastUpdated" not in resource.get("meta", {})
        contained = {f"#{c['id']}" for c in resource.get("contained", ())}
        for reference in _references(resource):
            assert reference in puts or reference in contained, (entry["fullUrl"], reference)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_every_example_goes_as_a_complete_bundle(store: Store, path: Any) -> None:
    outbox = _forwarding(store)
    store.ingest(convert(path.read_bytes()))
    [row] = outbox.rows()
    [bundle] = _bundles(store, row)
    assert bundle["type"] == "transaction"
    assert_complete(bundle)
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"DiagnosticReport", "Patient", "DocumentReference", "Binary", "Provenance"} <= types
    for entry in bundle["entry"]:  # the store's content, meta aside
        stored = store.read(entry["resource"]["resourceType"], entry["resource"]["id"]).resource()
        stored.pop("meta")
        assert entry["resource"] == stored


def test_a_type_filtered_bundle_still_resolves_its_references(store: Store) -> None:
    """resource_types chooses what goes; what it refers to goes too, so that a server
    refusing references to what it does not hold takes the Bundle."""
    config = parse_config(
        {
            "destinations": {
                "d": {"base": BASE, "resource_types": ["DiagnosticReport", "Observation"]}
            }
        }
    )
    Forwarding(store, config).install()
    store.ingest(convert((EXAMPLES / "urine-culture-antibiogram.xml").read_bytes()))
    [row] = Outbox(store).rows()
    [bundle] = _bundles(store, row)
    assert_complete(bundle)
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"DiagnosticReport", "Observation", "Patient", "Specimen"} <= types
    assert not types & {"DocumentReference", "Binary", "Provenance"}


def test_decimals_go_as_written(store: Store) -> None:
    outbox = _forwarding(store)
    store.ingest(convert((EXAMPLES / ORIGINAL).read_bytes()))
    [row] = outbox.rows()
    [body] = transactions(store, row, BASE, later_delivered=False)
    assert b'"value":5.30' in body  # never 5.3


def test_a_report_replaced_before_its_delivery_still_goes_whole(store: Store) -> None:
    """The original's report, deleted since by its replacement, goes with its last content
    (its Provenance refers to it); the replacement's row deletes it afterwards, in a
    Bundle of its own (its superseded DocumentReference still names the report)."""
    outbox = _forwarding(store)
    store.ingest(convert((EXAMPLES / ORIGINAL).read_bytes()))
    store.ingest(convert((EXAMPLES / REPLACEMENT).read_bytes()))
    original, replacement = outbox.rows()
    [first] = _bundles(store, original)
    assert_complete(first)
    document = next(e for e in first["entry"] if e["request"]["url"] == original.document)
    assert document["resource"]["status"] == "superseded"  # as the store has it now
    writes, deletions = _bundles(store, replacement)
    assert_complete(writes)
    assert _deleted(deletions) == set(replacement.delete)
    assert set(replacement.delete) <= {r for r, _ in original.put}
    put = {e["request"]["url"] for e in writes["entry"]}
    assert set(replacement.delete) <= put  # last content, so that references resolve


def test_an_original_arriving_after_its_replacement(store: Store) -> None:
    """Ingested late, its report is deleted at once: written whole, then deleted."""
    outbox = _forwarding(store)
    store.ingest(convert((EXAMPLES / REPLACEMENT).read_bytes()))
    store.ingest(convert((EXAMPLES / ORIGINAL).read_bytes()))
    _, late = outbox.rows()
    assert {r.partition("/")[0] for r in late.delete} == {"DiagnosticReport", "Observation"}
    writes, deletions = _bundles(store, late)
    assert_complete(writes)
    assert _deleted(deletions) == set(late.delete)


def test_a_row_retried_after_a_later_one_was_delivered_sends_deletions(store: Store) -> None:
    outbox = _forwarding(store)
    store.ingest(convert((EXAMPLES / ORIGINAL).read_bytes()))
    store.ingest(convert((EXAMPLES / REPLACEMENT).read_bytes()))
    original, replacement = outbox.rows()
    writes, deletions = _bundles(store, original, later_delivered=True)
    assert_complete(writes)
    assert _deleted(deletions) == set(replacement.delete)  # never brings the report back


@pytest.mark.parametrize("later_delivered", [False, True])
def test_a_row_delivered_late_never_sends_older_content(
    store: Store, later_delivered: bool
) -> None:
    """Every example, and ANS documents (when present) as one patient's reports, stored
    before any delivery (a replacement too): each row's Bundle carries the current
    content of every resource the store holds now, complete, so the destination never
    goes back to an older address, practitioner or encounter, whether the row goes in
    order or is retried late."""
    outbox = _forwarding(store)
    for path in example_files():
        store.ingest(convert(path.read_bytes()))
    for n, path in enumerate(corpus_files()[:8]):  # one patient's reports from many labs
        store.ingest(convert(renumbered(path.read_bytes(), n, 4_242_424)))
    for row in outbox.rows():
        writes, *_ = _bundles(store, row, later_delivered=later_delivered)
        assert_complete(writes)
        for entry in writes["entry"]:
            resource_type, resource_id = entry["request"]["url"].split("/")
            try:
                current = store.read(resource_type, resource_id).resource()
            except ResourceDeleted:
                continue
            current.pop("meta")
            assert entry["resource"] == current, entry["request"]["url"]


def test_a_row_naming_what_the_store_never_held_cannot_be_sent(store: Store) -> None:
    outbox = _forwarding(store)
    store.ingest(convert((EXAMPLES / ORIGINAL).read_bytes()))
    [row] = outbox.rows()
    broken = type(row)(
        **{**{f: getattr(row, f) for f in row.__slots__}, "put": (("Patient/nope", 1),)}
    )
    with pytest.raises(MissingResource, match="Patient/nope"):
        transactions(store, broken, BASE, later_delivered=False)


def test_a_failure_naming_a_resource_is_never_logged_with_its_reference() -> None:
    """Found by a review: a row whose resource had gone was logged with the message
    "Patient/<id> is not in the store" (issue 8, item 11: no identifier in any log)."""
    missing = DeliveryFailed(
        str(MissingResource("Patient/p-168056938321409 is gone")), permanent=True
    )
    assert "168056938321409" not in (loggable(missing) or "")
    refused = DeliveryFailed("HTTP 422: Patient/p-1 is invalid", status=422, permanent=True)
    assert loggable(refused) is None
    unreachable = DeliveryFailed("unreachable (ClientConnectorError: refused)", unavailable=True)
    assert loggable(unreachable) == "unreachable (ClientConnectorError: refused)"
