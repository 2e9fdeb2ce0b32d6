"""The FastAPI application: `create_app(settings)`; routers under /fhir, service routes at /."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bridge import __version__
from bridge.api.auth import Authenticator
from bridge.api.docs import install_docs
from bridge.api.head import HeadAsGet
from bridge.api.observability import AccessLog
from bridge.api.observability import router as service_router
from bridge.api.openapi import install_openapi
from bridge.api.outcomes import install_handlers
from bridge.api.routers.export import router as export_router
from bridge.api.routers.fhir import router as fhir_router
from bridge.api.routers.operations import router as operations_router
from bridge.api.routers.results import router as results_router
from bridge.api.state import AppState, Metrics
from bridge.export.service import BulkExports
from bridge.forwarding import start_forwarding
from bridge.pages import install as install_pages
from bridge.results import publish
from bridge.settings import Settings
from bridge.store import Store, open_store
from bridge.terminology.service import from_settings

__all__ = ["create_app"]

log = logging.getLogger("bridge.api")


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """The application; `store` may be given (tests, or an already open database)."""
    settings = settings or Settings.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or open_store(settings.database_url)
        opened.set_statement_timeout(settings.statement_timeout)
        terminology = from_settings(settings, opened)
        terminology.jdv()  # the JDV index (and the seed, on a new store) before the first request
        terminology.publish_versions()  # every JDV version readable over REST
        publish(opened)  # the OperationDefinitions and CodeSystems the operations name
        exports = BulkExports(
            opened, retention=settings.export_retention, worker=settings.export_worker
        )
        metrics = Metrics()
        app.state.bridge = AppState(
            settings, opened, terminology, Authenticator(settings), metrics, exports
        )
        exports.start()
        # the outbox step on the store, and a delivery worker (BRIDGE_FORWARD_TO, …)
        forwarding = start_forwarding(settings, opened, metrics.registry)
        log.info(
            "ready", extra={"fields": {"database": opened.dialect, "schema": opened.schema_version}}
        )
        try:
            yield
        finally:
            if forwarding is not None:
                forwarding.stop()
            exports.stop()
            if store is None:
                opened.close()

    app = FastAPI(
        title="crbio-bridge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local files (no CDN)
        redoc_url=None,
        description="French CR-BIO lab reports as FHIR R4: conversion, storage, "
        "search and terminology (JDV Circuit de la biologie, SMT).",
    )
    install_handlers(app)
    install_openapi(app, authenticated=settings.has_credentials)
    app.add_middleware(AccessLog)
    app.add_middleware(HeadAsGet)  # outermost: the access log sees the GET it runs
    app.include_router(service_router)
    app.include_router(operations_router)
    app.include_router(results_router)
    app.include_router(export_router)  # before /fhir/{resource_type}/{resource_id}
    app.include_router(fhir_router)
    install_docs(app)
    install_pages(app)  # the clinician's pages at /
    return app
