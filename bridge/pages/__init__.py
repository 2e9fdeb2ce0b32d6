"""The clinician's pages: patients, reports (the PDF copy first), result histories, printing.

Server-rendered HTML (Jinja2 templates, plain CSS, a small script, the chart drawn as
inline SVG by the server), in French, mounted on the API application by
`install(app)`. They render what the store and `bridge.results` return and compute
no verdict or conversion themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the pages on `app`. The router is imported here, not with the package: it
    uses the API's modules, whose application imports this package (a cycle otherwise,
    for whoever imports `bridge.pages.…` first)."""
    from bridge.pages.router import install as install_router

    install_router(app)
