"""What a GP sees, in Debian's headless Chromium driven by Playwright.

One browser for the whole session, a handful of page loads; a screenshot of each page
in out/screenshots/. Every page must load without a console error (a Content-Security-
Policy violation is one).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest

from tests.pages.conftest import BLANC, NO_PDF, ROUSSEL, SCREENSHOTS, WITH_PDF, Site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GLUCOSE = quote("http://loinc.org|40193-5")
TSH = quote("http://loinc.org|11580-8")


def snap(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture(scope="module")  # every browser test is here: one browser per run
def browser() -> Iterator[Any]:
    """Chromium, closed after this module: Playwright's sync API keeps an event loop
    running in the main thread while it is open, which other tests' asyncio.run refuses."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page of its own for each test, its console errors checked at the end."""
    context = browser.new_context(base_url=site.api.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    snap(page, request.node.name)
    context.close()
    assert not errors, errors


def test_the_0901_glucose_chart_has_two_points_and_switches_units(tab: Any, site: Site) -> None:
    tab.goto(f"/patients/{site.patient_id(ROUSSEL)}/history?code={GLUCOSE}")
    points = tab.locator("svg.chart-svg .point")
    assert points.count() == 2
    assert tab.locator("svg.chart-svg .point.converted").count() == 1
    assert tab.locator("svg.chart-svg text.unit").text_content() == "mmol/L"
    si_ticks = tab.locator("svg.chart-svg text.tick.y").all_text_contents()
    tab.locator("svg.chart-svg .point.converted").hover()
    tip = tab.locator(".chart-tip")
    assert tip.is_visible() and "0,95 g/L" in tip.text_content()
    snap(tab, "glucose-0901-si-tooltip")
    tab.get_by_role("link", name="Unités conventionnelles").click()
    tab.wait_for_url("**unit-system=conventional")
    assert tab.locator("svg.chart-svg text.unit").text_content() == "g/L"
    assert tab.locator("svg.chart-svg text.tick.y").all_text_contents() != si_ticks
    assert tab.locator("svg.chart-svg .point").count() == 2
    assert "5,30 mmol/L" in tab.locator("table.history").text_content()  # the original


def test_the_0903_history_shows_the_alert_above_the_chart(tab: Any, site: Site) -> None:
    tab.goto(f"/patients/{site.patient_id(BLANC)}/history?code={TSH}")
    alert = tab.get_by_role("alert")
    assert "vérifiez les unités, les valeurs de référence et la technique" in alert.text_content()
    assert alert.bounding_box()["y"] < tab.locator("figure.chart").bounding_box()["y"]
    assert tab.locator("svg.chart-svg line.curve.incomparable").count() == 1


def test_a_report_with_a_pdf_copy_shows_it_embedded(tab: Any, site: Site) -> None:
    report = site.reports[WITH_PDF]
    tab.goto(f"/reports/{report}")
    embedded = tab.locator("object.pdf")
    assert embedded.get_attribute("data") == f"/reports/{report}/pdf"
    assert embedded.get_attribute("type") == "application/pdf"
    assert embedded.bounding_box()["height"] > 400
    header = tab.locator("dl.report-header")
    assert embedded.bounding_box()["y"] < header.bounding_box()["y"]  # the PDF first
    pdf = tab.request.get(f"/reports/{report}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")


def test_a_report_without_pdf_shows_its_header_and_results(tab: Any, site: Site) -> None:
    tab.goto(f"/reports/{site.reports[NO_PDF]}")
    assert tab.locator("object.pdf").count() == 0
    header = tab.locator("dl.report-header").text_content()
    assert "28/01/2025 à 07:40" in header and "Antoine MERCIER" in header
    assert "Laboratoire Saône-Rhône Biologie" in header
    narrative = tab.locator("section.narrative")  # DiagnosticReport.text, the lab's text
    assert narrative.is_visible() and "BIOCHIMIE SANGUINE" in narrative.text_content()
    assert "à contrôler" in narrative.text_content()
    snap(tab, "report-without-pdf")
    tab.locator("details.structured summary").click()  # the structured results
    results = tab.locator("table.results").text_content()
    assert "Glycémie à jeun" in results and "6,2 mmol/L" in results
    tab.get_by_role("link", name="Historique").first.click()
    tab.wait_for_url("**/history?code=*")
    assert tab.locator("svg.chart-svg .point").count() >= 1


def test_patients_search_then_reports_newest_first(tab: Any, site: Site) -> None:
    tab.goto("/")
    tab.get_by_label("Nom, prénom ou INS").fill("2 75 01 69 123 456 18")
    tab.get_by_role("button", name="Rechercher").click()
    tab.get_by_role("link", name="ROUSSEL MARIE").click()
    titles = tab.locator("article.report-card h3").all_text_contents()
    assert [t.split(" du ")[1][:10] for t in titles] == ["26/02/2025", "15/01/2025"]


def test_the_api_documentation_renders_without_leaving_this_machine(tab: Any) -> None:
    """/docs and /redoc draw the API from this server's files: no request goes to another
    host (the browser's own PDF viewer and internal pages aside), no console error."""
    elsewhere: list[str] = []

    def watch(request: Any) -> None:
        host = urlparse(request.url).hostname
        if urlparse(request.url).scheme in ("http", "https") and host != "127.0.0.1":
            elsewhere.append(request.url)

    tab.on("request", watch)
    tab.goto("/docs")
    tab.locator(".opblock-tag").first.wait_for()
    assert "$series" in tab.locator("#swagger-ui").text_content()
    tab.goto("/redoc")
    tab.locator("h1").first.wait_for()
    tab.wait_for_load_state("networkidle")
    assert "Observation" in tab.locator("body").text_content()
    assert not elsewhere, elsewhere


@pytest.fixture(scope="module", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
