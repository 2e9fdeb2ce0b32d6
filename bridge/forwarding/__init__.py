"""Forwarding: every ingested report delivered to downstream FHIR servers, without loss.

A transactional outbox (the store's `after_ingest` step writes one row per destination
with the resources), workers that deliver each row as a transaction Bundle with fhirpy
(PUT by stable ids: a repeat is harmless), back-off and dead letters, order kept per
patient. The API and the CLI only start it or query it.

- `config.py`   destinations (BRIDGE_FORWARD_TO, BRIDGE_FORWARD_CONFIG) and worker timings
- `outbox.py`   the table: enqueue, claim, outcomes, operators' statements
- `bundles.py`  the transaction Bundle of a row, read from the store
- `client.py`   the POST (fhirpy) and what an answer means; `auth.py` its credentials
- `worker.py`   the delivery loop, back-off, destinations held while they fail
- `metrics.py`  Prometheus gauges (from the table) and counters
- `service.py`  what `crbio serve` starts
"""

from __future__ import annotations

from bridge.forwarding.config import BearerToken as BearerToken
from bridge.forwarding.config import ClientCredentials as ClientCredentials
from bridge.forwarding.config import Destination as Destination
from bridge.forwarding.config import ForwardingConfig as ForwardingConfig
from bridge.forwarding.config import WorkerSettings as WorkerSettings
from bridge.forwarding.config import load_config as load_config
from bridge.forwarding.config import parse_config as parse_config
from bridge.forwarding.errors import DeliveryFailed as DeliveryFailed
from bridge.forwarding.errors import ForwardingConfigError as ForwardingConfigError
from bridge.forwarding.errors import ForwardingError as ForwardingError
from bridge.forwarding.metrics import ForwardingMetrics as ForwardingMetrics
from bridge.forwarding.outbox import STATES as STATES
from bridge.forwarding.outbox import Outbox as Outbox
from bridge.forwarding.outbox import OutboxRow as OutboxRow
from bridge.forwarding.service import Forwarding as Forwarding
from bridge.forwarding.service import start_forwarding as start_forwarding
from bridge.forwarding.worker import Worker as Worker

__all__ = [
    "BearerToken",
    "ClientCredentials",
    "DeliveryFailed",
    "Destination",
    "Forwarding",
    "ForwardingConfig",
    "ForwardingConfigError",
    "ForwardingError",
    "ForwardingMetrics",
    "Outbox",
    "OutboxRow",
    "STATES",
    "Worker",
    "WorkerSettings",
    "load_config",
    "parse_config",
    "start_forwarding",
]
