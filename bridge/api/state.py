"""What the application holds while it runs: settings, store, terminology, auth, metrics,
bulk exports."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram

from bridge.api.auth import Authenticator
from bridge.export.service import BulkExports
from bridge.settings import Settings
from bridge.store import Store
from bridge.terminology import TerminologyService

__all__ = ["AppState", "Metrics", "app_state", "authorized"]


class Metrics:
    """Prometheus metrics of one application (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crbio_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crbio_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.documents = Counter(
            "crbio_documents_total",
            "CDA documents processed",
            ["operation"],
            registry=self.registry,
        )
        self.issues = Counter(
            "crbio_conversion_issues_total", "Issues met while converting", registry=self.registry
        )


@dataclass(slots=True)
class AppState:
    settings: Settings
    store: Store
    terminology: TerminologyService
    auth: Authenticator
    metrics: Metrics
    exports: BulkExports


def app_state(request: Request) -> AppState:
    return request.app.state.bridge  # type: ignore[no-any-return]


async def authorized(request: Request, scope: str) -> AppState:
    """The application's state, once the request's token grants `scope` (read or write)."""
    state = app_state(request)
    await state.auth.require(request, scope)
    return state
