"""Printing a report without a PDF copy: PDF/A-1b, every font embedded, nothing fetched."""

from __future__ import annotations

import io
from typing import Any

import pikepdf
import pytest

from bridge.pages.printing import STATIC_BASE, _fetcher
from bridge.pages.router import templates
from tests.pages.conftest import NO_PDF, Site


def _fonts(pdf: pikepdf.Pdf) -> list[Any]:
    """Every font of every page, the descendants of composite (Type0) fonts included."""
    found = []
    for page in pdf.pages:
        for font in (page.Resources.get("/Font") or {}).values():
            found.append(font)
            found.extend(font.get("/DescendantFonts") or [])
    return found


# WeasyPrint opens its sRGB profile for the PDF/A output intent and never closes the file
# (weasyprint/pdf/__init__.py): a ResourceWarning, ignored outside tests.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*sRGB2014.icc:pytest.PytestUnraisableExceptionWarning"
)
def test_a_report_without_pdf_prints_as_pdfa_1b_with_embedded_fonts(site: Site) -> None:
    response = site.pages.get(f"/reports/{site.reports[NO_PDF]}/print")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        'inline; filename="compte-rendu-biologie-2025-01-28.pdf"'
    )
    with pikepdf.open(io.BytesIO(response.content)) as pdf:
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "1"
        assert meta["pdfaid:conformance"] == "B"
        assert "Compte rendu" in meta["dc:title"] and pdf.pdf_version == "1.4"
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        fonts = _fonts(pdf)
        assert fonts, "the rendering has text"
        for font in fonts:
            if font.Subtype == "/Type0":
                continue  # its glyphs live in the descendant font, checked too
            descriptor = font.FontDescriptor
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), (
                f"font {font.get('/BaseFont')} is not embedded"
            )
        text = b"".join(page.Contents.read_bytes() for page in pdf.pages)
        assert text, "the page has content"


def test_printing_fetches_only_its_own_stylesheet() -> None:
    fetcher = _fetcher()
    assert fetcher(f"{STATIC_BASE}print.css").read().startswith(b"/*")
    for refused in (
        "file:///etc/passwd",
        "http://127.0.0.1:1/x.css",
        f"{STATIC_BASE}../router.py",
        f"{STATIC_BASE}print.css/../../x",
        "data:text/css,body{}",
    ):
        with pytest.raises(ValueError):
            fetcher(refused)


def test_every_printed_page_after_the_first_names_the_patient_and_the_report() -> None:
    """A loose sheet of a long report still says whose it is (print.css running header)."""
    from weasyprint import HTML

    report = {
        "title": "Compte rendu d'examens biologiques",
        "effective": "04/01/2021 à 07:35",
        "narrative": None,
        "rows": [],
        "notes": [f"Commentaire {i}" for i in range(150)],
    }
    patient = {
        "name": "DUPONT Jean",
        "gender": "Homme",
        "born": "né",
        "birth_date": "",
        "ins": None,
    }
    html = templates.get_template("print.html").render(
        {"report": report, "patient": patient, "static": STATIC_BASE}
    )
    document = HTML(string=html, base_url=STATIC_BASE, url_fetcher=_fetcher()).render()
    assert len(document.pages) > 2

    def margins(page: Any) -> list[str]:  # WeasyPrint's laid-out page: its margin boxes
        boxes = [b for b in page._page_box.children if type(b).__name__ == "MarginBox"]
        return [" ".join(t.text for t in b.descendants() if hasattr(t, "text")) for b in boxes]

    assert not any("DUPONT" in text for text in margins(document.pages[0]))  # the banner's there
    for page in document.pages[1:]:
        assert "DUPONT Jean · Compte rendu d'examens biologiques du 04/01/2021 à 07:35" in margins(
            page
        )
