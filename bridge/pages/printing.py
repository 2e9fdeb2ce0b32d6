"""Printing a report without a PDF copy: its HTML rendering as PDF/A-1b (brief §9).

WeasyPrint lays out the page from the print template and writes PDF/A-1b (ISO
19005-1, level B): fonts embedded (subset), an sRGB output intent, XMP metadata with
the `pdfaid` identification, no transparency, no attachment. It runs with Debian's
Pango and fonts (DejaVu), imported only when a report is printed.

Nothing is fetched from outside: the fetcher below serves the pages' own static files
(the print stylesheet) and refuses every other URL (http, file, data…), so a report's
narrative cannot make the server read a file or call a host.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

__all__ = ["STATIC_BASE", "to_pdfa"]

STATIC_BASE = "https://crbio-bridge.invalid/static/pages/"  # resolved only by the fetcher
_STATIC = resources.files("bridge.pages") / "static"
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # a line per step: noise
_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class OwnFiles(URLFetcher):  # type: ignore[misc]
        """Serves the pages' static files; every other URL is refused."""

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            name = url.removeprefix(STATIC_BASE) if url.startswith(STATIC_BASE) else ""
            suffix = name[name.rfind(".") :] if "." in name else ""
            if not name or "/" in name or ".." in name or suffix not in _TYPES:
                raise ValueError(f"not fetched while printing: {url[:80]}")
            body = (_STATIC / name).read_bytes()
            return URLFetcherResponse(url, body, {"Content-Type": _TYPES[suffix]})

    return OwnFiles(allowed_protocols=("https",), allow_redirects=False)


def to_pdfa(html: str) -> bytes:
    """The HTML rendering of a report as PDF/A-1b bytes (title and language from the
    page's <title> and <html lang>)."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=STATIC_BASE, url_fetcher=_fetcher())
    pdf: bytes = document.write_pdf(pdf_variant="pdf/a-1b")
    return pdf
