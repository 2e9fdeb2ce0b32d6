"""API layer: the FHIR REST server (FastAPI)."""

from __future__ import annotations

from bridge.api.app import create_app as create_app

__all__ = ["create_app"]
