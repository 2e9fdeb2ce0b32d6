"""The pairwise reduction Spark runs keeps what `bridge.export.newest` keeps, in any order.

`reduceByKey` combines versions in whatever order its partitions give: the result
must not depend on it, and must be the version `newest` picks among them all.
"""

from __future__ import annotations

import functools
import random
from types import SimpleNamespace

import pytest

from bridge.export import newest
from bridge.spark.kept import _chosen, _keyed, _newer

ROLES = [None, "report", "document"]


def versions(rng: random.Random, count: int) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            resource_type="DocumentReference",
            id="same",
            replaced=rng.random() < 0.4,
            precedence=f"{rng.randrange(4):020d} doc-{rng.randrange(3)} {i:02x}",
            role=rng.choice(ROLES),
            path=f"file:/in/{i}.xml",
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("seed", range(40))
def test_any_order_of_reduction_keeps_the_version_newest_keeps(seed: int) -> None:
    rng = random.Random(seed)
    rows = versions(rng, rng.randrange(1, 7))
    chosen = newest([((r.replaced, r.precedence), r.role) for r in rows])
    for _ in range(5):
        shuffled = rng.sample(rows, len(rows))
        reduced = functools.reduce(_newer, [_keyed(r)[1] for r in shuffled])
        kept = _chosen((("DocumentReference", "same"), reduced))
        if chosen is None:
            assert kept == []  # only the report of replaced documents wrote it
            continue
        ((_, _, path, candidates, rewritten),) = kept
        assert path == rows[chosen].path
        assert candidates == sum(
            newest([((r.replaced, r.precedence), r.role)]) is not None for r in rows
        )
        assert rewritten == (rows[chosen].replaced and rows[chosen].role == "document")
