"""The pages over HTTP: status codes, headers, French markup, escaping, friendly errors."""

from __future__ import annotations

import json
import logging
import re
from html import escape
from urllib.parse import quote

import pytest

from bridge.api.observability import JsonFormatter
from bridge.pages import router
from bridge.pages.formatting import coding_label
from tests.helpers import EXAMPLES
from tests.pages.conftest import BLANC, GARNIER, NO_PDF, ROUSSEL, WITH_PDF, Site

LOINC = "http://loinc.org"
CENSORED_CRP = "284064410903124"  # one-sided-ranges.xml: CRP < 1.0 mg/L


def page(site: Site, path: str, status: int = 200) -> str:
    response = site.pages.get(path)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
    assert directives["style-src"] == "'self'" and directives["img-src"] == "'self' data:"
    assert response.headers["cache-control"] == "no-store"
    return response.text


def test_patients_found_by_name_words_or_by_ins_with_spaces(site: Site) -> None:
    everyone = page(site, "/")
    assert "ROUSSEL MARIE" in everyone and "BLANC SOPHIE" in everyone
    by_name = page(site, "/?q=marie+roussel")
    assert "ROUSSEL MARIE" in by_name and "ROUSSEL CAMILLE" not in by_name
    by_ins = page(site, "/?q=" + quote("2 75 01 69 123 456 18"))
    assert "ROUSSEL MARIE" in by_ins and "BLANC" not in by_ins
    assert "2 75 01 69 123 456 18" in by_ins  # the NIR in its usual groups
    assert "Aucun patient ne correspond" in page(site, "/?q=zzzz")
    assert "Demande incomplète" in page(site, "/?q=" + "x" * 50_001, 400)  # not a 500


def test_a_patients_reports_newest_first_with_links_to_each_history(site: Site) -> None:
    patient = site.patient_id(ROUSSEL)
    html = page(site, f"/patients/{patient}")
    dates = re.findall(r"biologiques du (\d\d/\d\d/\d{4})", html)
    assert dates == ["26/02/2025", "15/01/2025"]
    assert "22/01/1975" in html and "née le" in html
    history = f"/patients/{patient}/history?code={quote(LOINC + '|53049-3', safe='')}"
    assert history.replace("|", "%7C") in html or history in html
    assert "0,95 g/L" in html and "5,30 mmol/L" in html  # decimals as the lab wrote them


def test_a_report_with_a_pdf_copy_embeds_it_first(site: Site) -> None:
    report = site.reports[WITH_PDF]
    html = page(site, f"/reports/{report}")
    embedded = html.index(f'<object class="pdf" data="/reports/{report}/pdf"')
    assert embedded < html.index("Prescripteur")  # the PDF before the header
    pdf = site.pages.get(f"/reports/{report}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"].startswith("inline; filename=")
    download = site.pages.get(f"/reports/{report}/pdf", params={"download": "true"})
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    assert download.content == pdf.content


def test_the_n1_document_shows_its_pdf(site: Site) -> None:
    report = site.reports["n1-pdf-only.xml"]
    assert f'data="/reports/{report}/pdf"' in page(site, f"/reports/{report}")


def test_a_report_without_pdf_shows_its_header_and_results(site: Site) -> None:
    report = site.reports[NO_PDF]
    html = page(site, f"/reports/{report}")
    assert "<object" not in html
    for label in ("Date du prélèvement", "28/01/2025 à 07:40", "Laboratoire Saône-Rhône"):
        assert label in html
    assert "Prescripteur" in html and "Antoine MERCIER" in html
    assert "6,2 mmol/L" in html and "soit 1,12 g/L" in html  # both units the lab gave
    assert "Élevé" in html
    # the lab's narrative (DiagnosticReport.text): its sections and comments
    narrative = html[html.index('<section class="narrative"') :]
    assert "BIOCHIMIE SANGUINE" in narrative and "à contrôler" in narrative
    assert narrative.index("BIOCHIMIE") < narrative.index('<details class="structured">')


def test_print_answers_the_pdf_copy_when_there_is_one(site: Site) -> None:
    report = site.reports[WITH_PDF]
    printed = site.pages.get(f"/reports/{report}/print")
    assert printed.status_code == 200
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.headers["content-disposition"].startswith("inline; filename=")
    assert printed.content == site.pages.get(f"/reports/{report}/pdf").content


def test_history_page_reads_the_series(site: Site) -> None:
    patient = site.patient_id(BLANC)
    html = page(site, f"/patients/{patient}/history?code={quote(LOINC + '|11580-8')}")
    assert 'role="alert"' in html and "vérifiez les unités" in html
    assert "/ Results" not in html  # the French text only
    assert html.count("data-tip=") == 2  # two points on the chart


def test_a_replaced_report_says_so_and_links_to_the_report_in_force(site: Site) -> None:
    old, new = site.reports["glucose-two-units.xml"], site.reports["glucose-replacement.xml"]
    html = page(site, f"/reports/{old}", 410)
    assert "Compte rendu remplacé" in html and "nouvelle version" in html
    assert f'href="/reports/{new}"' in html and "Ouvrir le compte rendu en vigueur" in html
    assert "Compte rendu remplacé" not in page(site, f"/reports/{new}")


def test_a_withdrawn_result_shows_no_value_and_says_why_in_french(site: Site) -> None:
    """null-flavors.xml: the Jaffé creatinine (61 umol/L, obsolete, replaced by the
    enzymatic 52) is "Annulé", its withdrawn value nowhere, no English note."""
    html = page(site, f"/reports/{site.reports['null-flavors.xml']}")
    row = html[html.index("Créatinine (Jaffé)") :]
    row = row[: row.index("</tr>")]
    assert "Annulé" in row and "Remplacé par un autre examen" in row
    assert "61" not in row and "Inconnu" not in row
    assert "withdrawn" not in html and "replaced by another" not in html


def test_a_number_without_unit_is_charted_without_a_unit_switch(site: Site) -> None:
    """An INR (0,98, REAL without unit) is a point on the chart, not "unité différente"."""
    patient = site.patient_id("291011305512920")  # null-flavors.xml
    html = page(site, f"/patients/{patient}/history?code={quote(LOINC + '|6301-6')}")
    assert "<svg" in html and html.count("data-tip=") == 1
    assert "unité différente" not in html and "Afficher en" not in html
    assert "0,98" in html


def test_the_technique_is_shown_where_the_alerts_ask_to_check_it(site: Site) -> None:
    """Every methodCode of a report is on its page and on the histories of its results."""
    for name in ("null-flavors.xml", "urine-culture-antibiogram.xml"):
        bundle = json.loads((EXAMPLES / name.replace(".xml", ".json")).read_text())
        methods = {
            coding_label(e["resource"]["method"])
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation" and "method" in e["resource"]
        }
        html = page(site, f"/reports/{site.reports[name]}")
        for method in methods:
            assert f"Technique : {escape(method)}" in html, (name, method)
    patient = site.patient_id("291011305512920")  # null-flavors.xml
    history = page(site, f"/patients/{patient}/history?code={quote(LOINC + '|14682-9')}")
    assert history.count("Technique : ") == 1  # the enzymatic creatinine (the Jaffé: withdrawn)


def test_a_censored_result_is_drawn_as_a_bound_not_a_measured_point(site: Site) -> None:
    """CRP "< 1,0 mg/L": the chart points toward the values it may take, the legend says so."""
    patient = site.patient_id(CENSORED_CRP)
    html = page(site, f"/patients/{patient}/history?code={quote(LOINC + '|1988-5')}")
    marks = re.findall(r'<path class="point censored[^"]*" d="([^"]+)" tabindex', html)
    assert len(marks) == 1 and "&lt; 1,0" in html
    (_, base_y), _, (_, apex_y) = (xy.split() for xy in marks[0][1:-2].split(" L"))
    assert float(apex_y) > float(base_y)  # "<": the apex points down, toward lower values
    assert "la valeur réelle est du côté de la pointe" in html


def test_every_history_link_of_every_report_opens(site: Site) -> None:
    """Qualitative results (an organism, "absentes"), results without reference range
    or unit: each history a report links to is a page, with a chart or a table."""
    links = set()
    for report in site.reports.values():
        response = site.pages.get(f"/reports/{report}")
        if response.status_code == 410:  # the report a replacement took out
            continue
        html = page(site, f"/reports/{report}")
        links.update(re.findall(r'class="history" href="([^"]+)"', html))
    assert len(links) > 20
    for link in sorted(links):
        html = page(site, link.replace("&amp;", "&"))
        assert "<svg" in html or "Pas de valeur numérique à tracer" in html, link
    # an isolate's count and antibiogram link to no history: it would mix organisms
    assert not [link for link in links if "7C28-1" in link or "|28-1" in link]
    assert not [link for link in links if "19090-0" in link]
    organism = [link for link in links if "11475-1" in link]
    html = page(site, organism[0].replace("&amp;", "&"))
    assert "Micro-organisme identifié" in html and "Escherichia coli" in html  # the value
    assert "Afficher en" not in html and "unité différente" not in html  # no unit to switch


def test_units_written_in_ucum_ascii_are_shown_as_a_lab_prints_them(site: Site) -> None:
    haemogram = page(site, f"/reports/{site.reports['haemogram-battery.xml']}")
    assert "10⁹/L" in haemogram and "10¹²/L" in haemogram and "10*9/L" not in haemogram
    ranges = page(site, f"/reports/{site.reports['one-sided-ranges.xml']}")
    assert "mUI/L" in ranges and "m[IU]/L" not in ranges
    assert "µmol/L" in ranges and "umol/L" not in ranges


def test_missing_things_are_friendly_french_pages(site: Site) -> None:
    assert "Page introuvable" in page(site, "/patients/nobody", 404)
    assert "Page introuvable" in page(site, "/reports/nothing", 404)
    assert "Page introuvable" in page(site, "/reports/nothing/print", 404)
    assert "Page introuvable" in page(site, "/patients/", 404)  # an address no route knows
    fhir = site.pages.get("/fhir/Patient/x/y/z")  # FHIR clients still get FHIR
    assert fhir.status_code == 404 and fhir.json()["resourceType"] == "OperationOutcome"
    patient = site.patient_id(GARNIER)
    assert "Demande incomplète" in page(site, f"/patients/{patient}/history", 400)
    wrong = f"/patients/{patient}/history?code={quote(LOINC + '|2345-7')}&unit-system=imperial"
    assert "Demande incomplète" in page(site, wrong, 400)


def test_hostile_names_and_narratives_are_escaped(site: Site) -> None:
    hostile = {
        "resourceType": "Patient",
        "id": "hostile",
        "name": [
            {"family": "<script>alert(1)</script>", "given": ['"><img src=x onerror=alert(2)>']}
        ],
    }
    assert site.api.http.put("/Patient/hostile", json=hostile).status_code in (200, 201)
    for html in (page(site, "/"), page(site, "/patients/hostile")):  # newest first in the list
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    report = {
        "resourceType": "DiagnosticReport",
        "id": "hostile-report",
        "status": "final",
        "code": {"text": "Compte rendu <b>piégé</b>"},
        "subject": {"reference": "Patient/hostile"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="alert(3)">Texte'
            '<script>alert(4)</script></p><a href="javascript:alert(5)">lien</a>'
            '<img src="http://evil.example/x.png"/><table><tr><td style="color:red">'
            "ok</td></tr></table></div>",
        },
    }
    assert site.api.http.put("/DiagnosticReport/hostile-report", json=report).status_code in (
        200,
        201,
    )
    html = page(site, "/reports/hostile-report")
    assert "ok</td>" in page(site, "/reports/hostile-report")
    assert site.api.http.delete("/Patient/hostile").status_code == 204
    assert "ok</td>" in page(site, "/reports/hostile-report")  # shown without its patient
    assert html.count("<script") == 1  # the page's own script file
    for bad in ("onclick", "alert(4)", "javascript:", "evil.example", "<b>piégé"):
        assert bad not in html
    assert "<p>Texte</p>" in html and "<td" in html and "lien" in html


def test_docs_work_offline(site: Site) -> None:
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        response = site.pages.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        html = response.text
        assert f"/static/docs/{asset}" in html
        assert not re.search(r"(src|href)=\"https?://", html), "no asset from another host"
        assert site.pages.get(f"/static/docs/{asset}").status_code == 200
    bundle = site.pages.get("/static/docs/redoc.standalone.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in bundle.content  # ReDoc's footer logo, its CDN's


def test_a_page_error_is_a_french_page_logged_without_its_path(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a review: an unexpected error on a page was logged with the page's path,
    which names the patient (issue 8, item 11)."""

    def broken(*args: object) -> None:
        raise RuntimeError(f"failed on {args!r}")

    monkeypatch.setattr(router, "patient_reports", broken)
    caplog.set_level(logging.INFO, logger="bridge")
    patient = site.patient_id(ROUSSEL)
    html = page(site, f"/patients/{patient}", 500)
    assert "Erreur du serveur" in html and "référence de l" in html
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "unexpected error" in logged and "/patients/{patient_id}" in logged
    assert patient not in logged and "failed on" not in logged


def test_bad_addresses_and_methods_on_pages_answer_pages(site: Site) -> None:
    """A NUL in a page's address, or DELETE on a page: French HTML, not FHIR JSON (which
    /fhir keeps)."""
    for path in ("/reports/a%00b", "/patients/a%00b", "/reports/a%00/print"):
        answer = site.pages.get(path)
        assert answer.status_code == 400 and answer.headers["content-type"].startswith(
            "text/html"
        ), path
        assert "caractère de contrôle" in answer.text
    assert (
        site.pages.get("/fhir/Patient/a%00b")
        .headers["content-type"]
        .startswith("application/fhir+json")
    )
    patient = site.patient_id(BLANC)
    for method, path in (("DELETE", f"/patients/{patient}"), ("PUT", "/")):
        answer = site.pages.request(method, path)
        assert answer.status_code == 405, (method, path)
        assert answer.headers["content-type"].startswith("text/html")
        assert "GET" in answer.headers["allow"]
    fhir = site.pages.request("PUT", "/fhir/metadata")
    assert fhir.status_code == 405 and fhir.json()["resourceType"] == "OperationOutcome"


def test_head_answers_wherever_get_does(site: Site) -> None:
    for path in ("/", f"/reports/{site.reports['null-flavors.xml']}", "/fhir/metadata"):
        got, head = site.pages.get(path), site.pages.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
        assert int(head.headers["content-length"]) == len(got.content)
    assert site.pages.head("/reports/nope").status_code == 404


def test_an_empty_history_is_named_by_the_jdv_not_by_its_code(site: Site) -> None:
    patient = site.patient_id(BLANC)
    html = page(site, f"/patients/{patient}/history?code={quote(LOINC + '|14749-6')}")
    assert "Historique : Glucose" in html and "Historique : http" not in html
    other = page(site, f"/patients/{patient}/history?code={quote('urn:oid:1.2.3|X1')}")
    assert "Historique : code X1" in other
