"""Stored JSON: compressed with the shipped dictionary, read back byte for byte."""

from __future__ import annotations

import json

from bridge.mapping import dumps
from bridge.store.content import pack, unpack
from tests.helpers import EXAMPLES


def test_every_example_resource_comes_back_as_written_and_smaller() -> None:
    bundle = json.loads((EXAMPLES / "haemogram-battery.json").read_text())
    for entry in bundle["entry"]:
        content = dumps(entry["resource"])
        packed = pack(content)
        assert unpack(packed) == content
        assert len(packed) < len(content) / 2 or entry["resource"]["resourceType"] == "Binary"


def test_plain_json_stored_before_compression_is_read_as_it_is() -> None:
    assert (
        unpack(b'{"resourceType":"Patient","id":"p1"}') == b'{"resourceType":"Patient","id":"p1"}'
    )
    assert unpack(memoryview(b"{}")) == b"{}"
    assert unpack(None) == b""


def test_what_would_not_shrink_is_stored_plain() -> None:
    assert pack(b"{}") == b"{}"
