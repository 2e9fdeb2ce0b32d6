"""`Store.snapshot()`: one instant of the store, whatever commits while it is read."""

from __future__ import annotations

from bridge.store import Store
from bridge.store.content import unpack


def test_a_snapshot_sees_the_store_at_its_instant(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "before", "gender": "female"})
    with store.snapshot() as (cursor, instant):
        store.put({"resourceType": "Patient", "id": "before", "gender": "male"})
        store.put({"resourceType": "Patient", "id": "after"})
        cursor.execute("SELECT id, content, last_updated FROM resource ORDER BY id")
        rows = cursor.fetchall()
    assert [row[0] for row in rows] == ["before"]
    assert b'"female"' in unpack(rows[0][1])
    assert rows[0][2] <= instant
    assert store.read("Patient", "after").last_updated > instant
    assert b'"male"' in store.read("Patient", "before").content  # committed meanwhile


def test_the_instant_is_never_before_what_the_snapshot_holds(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p"})
    with store.db.transaction() as cursor:  # written by a host whose clock runs ahead
        cursor.execute("UPDATE resource SET last_updated = last_updated + 3600000000")
    with store.snapshot() as (_, instant):
        pass
    assert instant >= store.read("Patient", "p").last_updated
