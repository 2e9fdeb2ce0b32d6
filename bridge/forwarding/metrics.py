"""Prometheus metrics of forwarding.

Gauges are read from the outbox table at each scrape, so every replica (and the
standalone worker) reports the same truth whichever process delivered; counters and
the duration histogram count what this process's worker did.

    crbio_forward_rows{destination, state}               rows by state
    crbio_forward_oldest_pending_seconds{destination}    age of the oldest undelivered row
    crbio_forward_deliveries_total{destination, result}  delivered, retried, dead
    crbio_forward_delivery_seconds{destination}          duration of each attempt
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge.forwarding.outbox import IN_FLIGHT, PENDING, STATES, Outbox

__all__ = ["ForwardingMetrics", "OutboxCollector"]


class OutboxCollector(Collector):
    """Gauges computed on scrape from the outbox (one GROUP BY query)."""

    def __init__(self, outbox: Outbox, destinations: tuple[str, ...] = ()) -> None:
        self.outbox = outbox
        self.destinations = destinations  # reported at 0 before they have any row

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = GaugeMetricFamily(
            "crbio_forward_rows",
            "Outbox rows by destination and state",
            labels=["destination", "state"],
        )
        oldest = GaugeMetricFamily(
            "crbio_forward_oldest_pending_seconds",
            "Age of the oldest row not delivered yet (pending or in flight), 0 when none",
            labels=["destination"],
        )
        counts = {(c.destination, c.state): c for c in self.outbox.counts()}
        names = sorted(set(self.destinations) | {d for d, _ in counts})
        now = time.time()
        for name in names:
            for state in STATES:
                found = counts.get((name, state))
                rows.add_metric([name, state], found.count if found else 0)
            waiting = [
                counts[(name, s)].oldest for s in (PENDING, IN_FLIGHT) if (name, s) in counts
            ]
            oldest.add_metric([name], max(0.0, now - min(waiting) / 1e6) if waiting else 0.0)
        yield rows
        yield oldest


class ForwardingMetrics:
    """What a worker counts, in `registry` (the application's, or the worker's own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter(
            "crbio_forward_deliveries_total",
            "Delivery attempts by destination and result (delivered, retried, dead)",
            ["destination", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "crbio_forward_delivery_seconds",
            "Duration of a delivery attempt",
            ["destination"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
