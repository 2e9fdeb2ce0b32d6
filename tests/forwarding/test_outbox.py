"""The outbox on both engines: rows written with the resources, claims, order, outcomes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from bridge.forwarding import Forwarding, Outbox, parse_config
from bridge.forwarding.outbox import DEAD, DELIVERED, IN_FLIGHT, PENDING
from bridge.mapping import convert
from bridge.store import ResourceNotFound, Store
from tests.builders import document, result
from tests.helpers import EXAMPLES

ORIGINAL, REPLACEMENT = "glucose-two-units.xml", "glucose-replacement.xml"
OTHER = "haemogram-battery.xml"  # another patient


def config(*names: str, **destination: Any) -> Any:
    names = names or ("a",)
    return parse_config(
        {"destinations": {n: {"base": f"http://{n}.example/fhir"} | destination for n in names}}
    )


def ingest(store: Store, name: str) -> bool:
    return store.ingest(convert((EXAMPLES / name).read_bytes()))[1]


def test_each_ingestion_writes_one_row_per_destination(store: Store) -> None:
    Forwarding(store, config("a", "b")).install()
    conversion = convert((EXAMPLES / OTHER).read_bytes())
    store.ingest(conversion)
    rows = Outbox(store).rows()
    assert sorted(r.destination for r in rows) == ["a", "b"]
    expected = [f"{r['resourceType']}/{r['id']}" for r in conversion.resources()]
    patient = next(r for r in conversion.resources() if r["resourceType"] == "Patient")
    for row in rows:
        assert (row.state, row.attempts, row.delete) == (PENDING, 0, ())
        assert [reference for reference, _ in row.put] == expected  # Binary included
        assert {version for _, version in row.put} == {1}
        assert row.patient == f"Patient/{patient['id']}"
        assert row.document.startswith("DocumentReference/")


def test_the_row_commits_with_the_resources_or_not_at_all(store: Store) -> None:
    forwarding = Forwarding(store, config())

    def enqueue_then_fail(*args: Any) -> None:
        forwarding.enqueue(*args)
        raise RuntimeError("the disk is full")

    store.after_ingest = enqueue_then_fail
    conversion = convert((EXAMPLES / OTHER).read_bytes())
    with pytest.raises(RuntimeError):
        store.ingest(conversion)
    assert Outbox(store).rows() == []
    report = next(r for r in conversion.resources() if r["resourceType"] == "DiagnosticReport")
    with pytest.raises(ResourceNotFound):
        store.read("DiagnosticReport", report["id"])


def test_an_unchanged_ingestion_enqueues_nothing(store: Store) -> None:
    Forwarding(store, config()).install()
    assert ingest(store, OTHER)
    assert not ingest(store, OTHER)
    assert len(Outbox(store).rows()) == 1


def test_a_replacement_deletes_what_it_takes_out(store: Store) -> None:
    Forwarding(store, config()).install()
    ingest(store, ORIGINAL)
    ingest(store, REPLACEMENT)
    first, second = Outbox(store).rows()
    deleted = {ref.partition("/")[0] for ref in second.delete}
    assert deleted == {"DiagnosticReport", "Observation"}
    assert set(second.delete) <= {ref for ref, _ in first.put}  # the earlier report's own
    superseded = dict(r for r in second.put if r[0].startswith("DocumentReference/"))
    assert superseded[first.document] == 2 and len(superseded) == 2
    assert first.patient == second.patient


def test_claims_keep_each_patients_order(store: Store) -> None:
    Forwarding(store, config()).install()
    for name in (ORIGINAL, OTHER, REPLACEMENT):
        ingest(store, name)
    outbox = Outbox(store)
    original, other, replacement = outbox.rows()
    claimed = outbox.claim("a", 10, lease=60, token="w1")
    assert [r.id for r in claimed] == [original.id, other.id]  # the replacement waits
    assert all(r.state == IN_FLIGHT and r.attempts == 1 for r in claimed)
    assert outbox.claim("a", 10, lease=60, token="w2") == []  # in flight: nobody else's
    assert outbox.failed(claimed[0], "HTTP 503", None, retry_in=0.0)
    [again] = outbox.claim("a", 10, lease=60, token="w2")
    assert again.id == original.id and outbox.delivered(again)
    assert [r.id for r in outbox.claim("a", 10, lease=60, token="w3")] == [replacement.id]


def test_a_lapsed_claim_comes_back_and_the_old_holder_records_nothing(store: Store) -> None:
    Forwarding(store, config()).install()
    ingest(store, OTHER)
    outbox = Outbox(store)
    [first] = outbox.claim("a", 1, lease=1.0, token="crashed")
    assert outbox.claim("a", 1, lease=60, token="w2") == []
    time.sleep(1.1)
    assert not outbox.renew(first, lease=60)  # lapsed: not to be sent any more
    [second] = outbox.claim("a", 1, lease=60, token="w2")
    assert (second.id, second.attempts) == (first.id, 2)
    assert not outbox.delivered(first)  # the crashed claim's late answer is ignored
    assert outbox.renew(second, lease=60) and outbox.delivered(second)
    assert [r.state for r in outbox.rows()] == [DELIVERED]


def test_dead_rows_do_not_hold_the_patients_later_reports(store: Store) -> None:
    Forwarding(store, config()).install()
    ingest(store, ORIGINAL)
    ingest(store, REPLACEMENT)
    outbox = Outbox(store)
    [original] = outbox.claim("a", 10, lease=60, token="w")
    assert outbox.failed(original, "HTTP 422: refused", {"resourceType": "OperationOutcome"}, None)
    [replacement] = outbox.claim("a", 10, lease=60, token="w")
    assert replacement.id != original.id
    assert outbox.outcome(original.id) == {"resourceType": "OperationOutcome"}
    dead = outbox.rows(DEAD)
    assert [(r.id, r.last_error) for r in dead] == [(original.id, "HTTP 422: refused")]
    assert outbox.retry(dead=True) == 1
    [again] = outbox.rows(PENDING)
    assert (again.id, again.attempts) == (original.id, 0)


def test_retry_by_id_sends_a_delivered_row_again_but_never_one_in_flight(store: Store) -> None:
    Forwarding(store, config()).install()
    ingest(store, ORIGINAL)
    ingest(store, OTHER)
    outbox = Outbox(store)
    first, second = outbox.claim("a", 10, lease=60, token="w")
    outbox.delivered(first)
    assert outbox.retry([first.id, second.id]) == 1  # the second is in flight
    assert {r.id: r.state for r in outbox.rows()} == {first.id: PENDING, second.id: IN_FLIGHT}
    assert outbox.retry([first.id], destination="b") == 0


def test_destination_filters(store: Store) -> None:
    microbiology = parse_config(
        {
            "destinations": {
                "micro": {"base": "http://m.example/fhir", "categories": ["18725-2"]},
                "labs": {
                    "base": "http://l.example/fhir",
                    "categories": ["http://loinc.org|18719-5"],
                    "resource_types": ["DiagnosticReport", "Observation"],
                },
            }
        }
    )
    Forwarding(store, microbiology).install()
    store.ingest(convert(document(result(), chapter="18719-5")))  # Biochimie
    [row] = Outbox(store).rows()
    assert row.destination == "labs"
    assert {ref.partition("/")[0] for ref, _ in row.put} == {"DiagnosticReport", "Observation"}


def test_delivered_rows_are_purged_after_the_retention(store: Store) -> None:
    Forwarding(store, config()).install()
    ingest(store, ORIGINAL)
    ingest(store, OTHER)
    outbox = Outbox(store)
    first, _ = outbox.claim("a", 10, lease=60, token="w")
    outbox.delivered(first)
    assert outbox.purge(before=0) == 0
    assert outbox.purge(before=time.time_ns() // 1000 + 1) == 1
    assert [r.state for r in outbox.rows()] == [IN_FLIGHT]


def test_concurrent_claims_never_share_a_row(store: Store) -> None:
    """Workers claiming at once (threads, each with its own connection) split the rows."""
    Forwarding(store, config()).install()
    for i in range(12):
        store.ingest(
            convert(document(result(), ins=f"2800299123456{i:02d}", doc_root=f"1.2.9.{i}"))
        )
    outbox = Outbox(store)
    claimed: Counter[int] = Counter()
    lock = threading.Lock()

    def claim(token: str) -> None:
        while True:
            rows = outbox.claim("a", 2, lease=60, token=token)
            if not rows:
                return
            with lock:
                claimed.update(r.id for r in rows)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 12 and set(claimed.values()) == {1}
