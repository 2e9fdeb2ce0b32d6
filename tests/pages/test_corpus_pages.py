"""Every ANS example document, ingested over HTTP, as a GP opens it: its report page, each
history it links to, and its print (PDF/A-1b when the lab sent no PDF copy). Skipped when
the corpus is absent."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import httpx
import pikepdf
import pytest

from tests.api.conftest import running_api
from tests.helpers import corpus_files
from tests.pages.conftest import _ingested
from tests.stores import open_test_store

pytestmark = pytest.mark.skipif(not corpus_files(), reason="the ANS corpus is not beside us")


@pytest.fixture(scope="module")
def corpus_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, dict]]:
    with open_test_store("sqlite", tmp_path_factory.mktemp("corpus-pages")) as store:
        with running_api(store) as api:
            reports = {path.name: _ingested(api, path) for path in corpus_files()}
            with httpx.Client(base_url=api.url, timeout=60) as pages:
                yield pages, reports


@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*sRGB2014.icc:pytest.PytestUnraisableExceptionWarning"
)
def test_every_example_report_its_histories_and_its_print(
    corpus_site: tuple[httpx.Client, dict[str, str]],
) -> None:
    pages, reports = corpus_site
    links: set[str] = set()
    printed = 0
    for name, report in sorted(reports.items()):
        response = pages.get(f"/reports/{report}")
        if response.status_code == 410:  # replaced by a later version of the document
            continue
        assert response.status_code == 200, name
        assert "Microorganism identified" not in response.text, name  # labels in French
        links.update(re.findall(r'class="history" href="([^"]+)"', response.text))
        if 'class="pdf"' in response.text:
            continue
        pdf_bytes = pages.get(f"/reports/{report}/print").content
        with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
            meta = pdf.open_metadata()
            assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("1", "B"), name
            printed += 1
    assert printed >= 3
    for link in sorted(links):
        response = pages.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link


def test_a_second_line_labs_pdf_is_offered_on_the_report(
    corpus_site: tuple[httpx.Client, dict[str, str]],
) -> None:
    """The 2nde-intention documents carry the second-line lab's report as a PDF in a
    section of their own: the report page links to it, and the link serves that PDF; a
    document of another report is not served under this one."""
    pages, reports = corpus_site
    names = [name for name in reports if "2nde-intention" in name]
    assert names
    for name in names:
        html = pages.get(f"/reports/{reports[name]}").text
        links = re.findall(r'href="(/reports/[^"/]+/attachments/[^"?]+)"', html)
        assert links, name
        for link in links:
            served = pages.get(link)
            assert served.status_code == 200, (name, link)
            assert served.headers["content-type"] == "application/pdf"
            assert served.content.startswith(b"%PDF")
    other = next(r for n, r in reports.items() if n not in names)
    document = links[0].rsplit("/", 1)[1]
    assert pages.get(f"/reports/{other}/attachments/{document}").status_code == 404
