"""The delivery worker: claim due outbox rows, post each as a transaction Bundle, record
what happened.

One asyncio loop per worker, at most `concurrency` deliveries in flight; database
statements run in threads (they block). Several workers, in one process or in many, on
one database share the outbox safely (see bridge.forwarding.outbox).

Failures:
- a row that fails waits before its next attempt: full-jitter exponential back-off,
  uniform in [0, min(backoff_cap, backoff_base·2^(attempt-1))], or the Retry-After the
  destination asked for (at most `max_retry_after`); dead after the destination's
  `max_attempts`, or at once when the destination refused the content (a 4xx other than
  401, 403, 408, 409, 429), its OperationOutcome kept. A destination that takes nothing
  now (no connection, 503, 429) uses up no attempt: its rows wait for it, however long;
- a destination that fails (no answer, 5xx, 429…) is held for a back-off of its own,
  then probed by one row at a time until it answers: an outage costs one request per
  back-off, not one per waiting report, and a destination that comes back is served
  again within `backoff_cap` (60 s by default).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bridge.forwarding.auth import TokenSource, token_source
from bridge.forwarding.bundles import transactions
from bridge.forwarding.client import post_transaction
from bridge.forwarding.config import Destination, ForwardingConfig
from bridge.forwarding.errors import DeliveryFailed, MissingResource
from bridge.forwarding.metrics import ForwardingMetrics
from bridge.forwarding.outbox import Outbox, OutboxRow
from bridge.store import Store
from bridge.store.records import now_micros

__all__ = ["Worker", "backoff", "loggable"]

log = logging.getLogger("bridge.forwarding")
PURGE_EVERY = 3600.0  # seconds between two deletions of old delivered rows
LEASE_MARGIN = 5.0  # seconds of lease left, beyond the timeout, to send without renewing


def backoff(
    attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the `attempt`-th failure: full jitter, capped.

    >>> backoff(1, 1.0, 60.0, rng=lambda: 1.0), backoff(4, 1.0, 60.0, rng=lambda: 1.0)
    (1.0, 8.0)
    >>> backoff(30, 1.0, 60.0, rng=lambda: 1.0), backoff(3, 1.0, 60.0, rng=lambda: 0.5)
    (60.0, 2.0)
    """
    return rng() * min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))


@dataclass(slots=True)
class _Health:
    """What a worker knows of a destination: consecutive failures, held until, in flight."""

    failures: int = 0
    held_until: float = 0.0  # time.monotonic()
    in_flight: int = 0


def loggable(failure: DeliveryFailed) -> str | None:
    """What a log line may say of a failure: how the connection failed, never words that
    may quote the content. A destination's answer may quote the Bundle, and a resource
    missing from the store is named by its reference: both stay in the outbox (`crbio
    forward status`), for whoever may read the store."""
    if failure.status is not None:
        return None
    if failure.permanent:  # the row itself cannot be sent: a resource of it is gone
        return "a resource of the row is no longer in the store"
    return str(failure)[:300]


class Worker:
    """Delivers the outbox of `store` to the destinations of `config`.

    `await run()` until `stop()`; `await run(until_idle=True)` returns once nothing is
    due and nothing is in flight (`crbio forward run --once`, the tests). `wake()` and
    `stop()` may be called from any thread.
    """

    def __init__(
        self,
        store: Store,
        config: ForwardingConfig,
        *,
        metrics: ForwardingMetrics | None = None,
        name: str | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.config = config
        self.outbox = Outbox(store)
        self.metrics = metrics
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.rng = rng
        self.heartbeat = 0.0  # time.time() of the last round: the health probe reads it
        self._health = {d.name: _Health() for d in config.destinations}
        self._tokens: dict[str, TokenSource | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._turn = 0

    # From any thread ---------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now (a document was just ingested)."""
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the deliveries in flight have ended."""
        self._stopping = True
        self.wake()

    # The loop ----------------------------------------------------------------------

    async def run(self, *, until_idle: bool = False) -> None:
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        self._tokens = {
            d.name: token_source(d.auth, timeout=d.timeout) for d in self.config.destinations
        }
        settings = self.config.worker
        tasks: set[asyncio.Task[None]] = set()
        next_purge = 0.0
        try:
            while not self._stopping:
                self.heartbeat = time.time()
                if time.monotonic() >= next_purge:
                    await self._purge()
                    next_purge = time.monotonic() + PURGE_EVERY
                self._event.clear()
                rows = await self._claim(settings.concurrency - len(tasks))
                for row in rows:
                    task = asyncio.create_task(self._deliver(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if until_idle and not rows and not tasks:
                    return
                try:
                    await asyncio.wait_for(self._event.wait(), settings.poll_interval)
                except TimeoutError:
                    pass
        finally:
            if tasks:  # each ends within its destination's timeout
                await asyncio.gather(*tasks, return_exceptions=True)
            self._loop = self._event = None

    async def _claim(self, free: int) -> list[OutboxRow]:
        """Claim up to `free` rows, the destinations taken in turns; a held destination
        gets none, one being probed gets one at a time."""
        destinations = list(self.config.destinations)
        if free <= 0 or not destinations:
            return []
        self._turn = (self._turn + 1) % len(destinations)
        now = time.monotonic()
        plan = []
        for destination in destinations[self._turn :] + destinations[: self._turn]:
            health = self._health[destination.name]
            if now < health.held_until:
                continue
            limit = free if health.failures == 0 else 1 - health.in_flight
            if limit > 0:
                plan.append((destination.name, limit))
        if not plan:
            return []
        token = f"{self.name}:{uuid.uuid4().hex[:12]}"
        lease = self.config.worker.lease

        def claim() -> list[OutboxRow]:
            rows: list[OutboxRow] = []
            for name, limit in plan:
                if len(rows) < free:
                    rows += self.outbox.claim(name, min(limit, free - len(rows)), lease, token)
            return rows

        try:
            rows = await asyncio.to_thread(claim)
        except Exception:  # the database is unreachable: try again at the next round
            log.exception("claim failed", extra={"fields": {"worker": self.name}})
            return []
        for row in rows:
            self._health[row.destination].in_flight += 1
        return rows

    async def _deliver(self, row: OutboxRow) -> None:
        destination = self.config.destination(row.destination)
        assert destination is not None  # only configured destinations are claimed
        started = time.monotonic()
        try:
            await self._attempt(row, destination)
        except Exception:  # the store failed us (or a bug): the lease brings the row back
            log.exception("delivery attempt broke off", extra={"fields": {"row": row.id}})
        finally:
            self._health[row.destination].in_flight -= 1
            if self.metrics is not None:
                self.metrics.duration.labels(destination.name).observe(time.monotonic() - started)
            if self._event is not None:
                self._event.set()

    async def _attempt(self, row: OutboxRow, destination: Destination) -> None:
        try:
            later = await asyncio.to_thread(self.outbox.later_delivered, row)
            bodies = await asyncio.to_thread(
                transactions, self.store, row, destination.base, later_delivered=later
            )
            lease_end = row.next_attempt  # as the claim set it
            for body in bodies:  # the PUTs, then the DELETEs
                # the post must end (or time out) before anyone else may claim the row
                # again: short of that, a new lease from now
                if lease_end - now_micros() < (destination.timeout + LEASE_MARGIN) * 1e6:
                    lease = self.config.worker.lease
                    lease_end = now_micros() + int(lease * 1e6)
                    if not await asyncio.to_thread(self.outbox.renew, row, lease):
                        log.warning("claim lapsed", extra={"fields": {"row": row.id}})
                        return
                await post_transaction(destination, body, self._tokens.get(destination.name))
        except MissingResource as exc:
            await self._failed(row, destination, DeliveryFailed(str(exc), permanent=True))
            return
        except DeliveryFailed as exc:
            await self._failed(row, destination, exc)
            return
        recorded = await asyncio.to_thread(self.outbox.delivered, row)
        health = self._health[destination.name]
        health.failures, health.held_until = 0, 0.0
        self._count(destination, "delivered")
        log.info(
            "delivered",
            extra={
                "fields": {
                    "row": row.id,
                    "destination": destination.name,
                    "attempt": row.attempts,
                    "recorded": recorded,
                }
            },
        )

    async def _failed(self, row: OutboxRow, destination: Destination, exc: DeliveryFailed) -> None:
        settings = self.config.worker
        asked = None if exc.retry_after is None else min(exc.retry_after, settings.max_retry_after)
        health = self._health[destination.name]
        retry_in: float | None = None
        if not exc.permanent:  # the destination, not the Bundle: hold it a while
            health.failures += 1
            hold = backoff(health.failures, settings.backoff_base, settings.backoff_cap, self.rng)
            health.held_until = max(health.held_until, time.monotonic() + (asked or hold))
            if exc.unavailable:  # waiting for the destination uses up no attempt
                retry_in = asked if asked is not None else hold
            elif row.attempts < destination.max_attempts:
                retry_in = (
                    asked
                    if asked is not None
                    else backoff(
                        row.attempts, settings.backoff_base, settings.backoff_cap, self.rng
                    )
                )
        await asyncio.to_thread(
            self.outbox.failed, row, str(exc), exc.outcome, retry_in, counted=not exc.unavailable
        )
        self._count(destination, "retried" if retry_in is not None else "dead")
        log.warning(
            "delivery failed",
            extra={
                "fields": {
                    "row": row.id,
                    "destination": destination.name,
                    "attempt": row.attempts,
                    "status": exc.status,
                    "error": loggable(exc),
                    "retry_in": None if retry_in is None else round(retry_in, 3),
                }
            },
        )

    def _count(self, destination: Destination, result: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(destination.name, result).inc()

    async def _purge(self) -> None:
        days = self.config.worker.retention_days
        try:
            await asyncio.to_thread(self.outbox.purge, now_micros() - int(days * 86400e6))
        except Exception:
            log.exception("purge failed", extra={"fields": {"worker": self.name}})
