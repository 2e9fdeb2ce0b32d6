"""The clinician's pages: patients, reports (the PDF copy first), result histories, printing.

Server-rendered HTML (Jinja2 templates, plain CSS, a small script, the chart drawn as
inline SVG by the server), in French, mounted on the API application by
`install(app)`. They render what the store and `bridge.results` return and compute
no verdict or conversion themselves.
"""

from __future__ import annotations

from bridge.pages.router import install as install

__all__ = ["install"]
