"""Forwarding as the edges start it: the enqueue step on a store, metrics, a worker thread.

`crbio serve` (through the application's lifespan) installs the step, so that every
ingestion of that process fills the outbox in its own transaction, and runs a worker
in a thread beside the server unless BRIDGE_FORWARD_WORKER=0 leaves delivery to
`crbio forward run`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from bridge.forwarding.config import ForwardingConfig, load_config
from bridge.forwarding.metrics import ForwardingMetrics, OutboxCollector
from bridge.forwarding.outbox import Outbox, enqueue
from bridge.forwarding.worker import Worker
from bridge.mapping import Conversion
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.writer import Writer

__all__ = ["Forwarding", "start_forwarding"]

log = logging.getLogger("bridge.forwarding")


class Forwarding:
    """The outbox of `store` for the destinations of `config`."""

    def __init__(
        self, store: Store, config: ForwardingConfig, registry: CollectorRegistry | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.outbox = Outbox(store)
        self.metrics = ForwardingMetrics(registry) if registry is not None else None
        if registry is not None:
            names = tuple(d.name for d in config.destinations)
            registry.register(OutboxCollector(self.outbox, names))
        self.worker: Worker | None = None
        self._thread: threading.Thread | None = None

    def enqueue(
        self,
        writer: Writer,
        conversion: Conversion,
        response: dict[str, Any],
        written: Sequence[tuple[str, str, int, bool]],
    ) -> None:
        """The store's `after_ingest` step (bridge.store.AfterIngest)."""
        if enqueue(writer, self.config.destinations, conversion, response, written):
            if self.worker is not None:
                self.worker.wake()

    def install(self) -> Forwarding:
        """Every ingestion through `store` enqueues from now on."""
        self.store.after_ingest = self.enqueue
        return self

    def start_worker(self, name: str | None = None) -> Worker:
        """Deliver in a thread of this process (its own event loop) until `stop`."""
        self.worker = worker = Worker(self.store, self.config, metrics=self.metrics, name=name)

        def run() -> None:
            try:
                asyncio.run(worker.run())
            except Exception:
                log.exception("the forwarding worker stopped")

        self._thread = threading.Thread(target=run, name="crbio-forwarding", daemon=True)
        self._thread.start()
        return worker

    def stop(self) -> None:
        """Stop the worker thread once its deliveries in flight have ended."""
        if self.worker is not None and self._thread is not None:
            self.worker.stop()
            longest = max((d.timeout for d in self.config.destinations), default=0.0)
            self._thread.join(timeout=longest + 10)
        self.worker = self._thread = None


def start_forwarding(
    settings: Settings, store: Store, registry: CollectorRegistry | None = None
) -> Forwarding | None:
    """Forwarding as configured (None without destinations): the enqueue step installed,
    the worker thread started unless BRIDGE_FORWARD_WORKER=0."""
    config = load_config(settings)
    if not config.destinations:
        return None
    forwarding = Forwarding(store, config, registry).install()
    if settings.forward_worker:
        forwarding.start_worker()
    log.info(
        "forwarding",
        extra={
            "fields": {
                "destinations": [d.name for d in config.destinations],
                "worker": settings.forward_worker,
            }
        },
    )
    return forwarding
