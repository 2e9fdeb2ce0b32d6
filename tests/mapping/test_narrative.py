"""DiagnosticReport.text: the header and every section's narrative, in FHIR's XHTML only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from bridge.cda.parsing import V3
from bridge.mapping import Conversion, convert
from bridge.mapping.allowlist import CDA_ELEMENTS, ELEMENTS
from bridge.mapping.xhtml import XhtmlWriter
from tests.builders import document, result
from tests.helpers import EXAMPLES, corpus_files, example_files, validate_bundle
from tests.narrative_rules import XHTML, narrative_problems


def report(conversion: Conversion) -> dict[str, Any]:
    [found] = [
        e["resource"]
        for e in conversion.bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    return found


def div_of(narrative: str, **options: Any) -> tuple[str, Conversion]:
    conversion = convert(document(result(), narrative=narrative, **options))
    div = report(conversion)["text"]["div"]
    assert narrative_problems(div) == []
    return div, conversion


def parsed(div: str) -> etree._Element:
    return etree.fromstring(div.encode("utf-8"))


def words(text: str) -> list[str]:
    return text.split()


def sanitised(conversion: Conversion) -> list[str]:
    return [i.message for i in conversion.issues if i.code == "narrative-sanitised"]


# Every document ---------------------------------------------------------------


def _sections(root: etree._Element):  # type: ignore[no-untyped-def]
    body = root.find(f".//{{{V3}}}structuredBody")
    return [] if body is None else list(body.iter(f"{{{V3}}}section"))


@pytest.mark.parametrize("path", corpus_files() + example_files(), ids=lambda p: Path(p).name)
def test_every_document_gets_its_header_and_every_section(path: Path) -> None:
    data = path.read_bytes()
    conversion = convert(data)
    text = report(conversion)["text"]
    assert text["status"] == "extensions"
    assert narrative_problems(text["div"]) == []
    shown = words(" ".join(parsed(text["div"]).itertext()))
    document_root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    cda = next(document_root.iter(f"{{{V3}}}ClinicalDocument"))
    family = cda.find(f"{{{V3}}}recordTarget//{{{V3}}}patient/{{{V3}}}name/{{{V3}}}family")
    assert family is not None and family.text.strip() in " ".join(shown)
    # every section's narrative text, in document order (placeholders may come between)
    expected: list[str] = []
    for section in _sections(cda):
        narrative = section.find(f"{{{V3}}}text")
        if narrative is not None:
            expected += words(" ".join(narrative.itertext()))
    position = 0
    for word in expected:
        position = shown.index(word, position) + 1  # ValueError when missing or out of order
    # and the titles as headings
    headings = [
        " ".join("".join(h.itertext()).split())
        for h in parsed(text["div"]).iter()
        if re.fullmatch(rf"{re.escape(XHTML)}h[2-6]", str(h.tag))
    ]
    for section in _sections(cda):
        title = section.find(f"{{{V3}}}title")
        if title is not None and "".join(title.itertext()).strip():
            assert " ".join("".join(title.itertext()).split()) in headings
    assert not sanitised(conversion)


def test_every_example_bundle_still_validates() -> None:
    for path in example_files():
        validate_bundle(convert(path.read_bytes()).bundle)


def test_an_n1_document_gets_its_header_and_says_it_is_its_pdf() -> None:
    conversion = convert((EXAMPLES / "n1-pdf-only.xml").read_bytes())
    div = report(conversion)["text"]["div"]
    assert narrative_problems(div) == []
    text = " ".join("".join(parsed(div).itertext()).split())
    assert "document PDF joint" in text
    assert parsed(div).find(f"{XHTML}h2") is None  # no section


# The header ---------------------------------------------------------------------


def test_the_header_names_patient_ins_lab_prescriber_validator_and_dates() -> None:
    prescriber = """<participant typeCode="REF"><associatedEntity classCode="PROV">
      <id root="1.2.250.1.71.4.2.1" extension="810000000777"/>
      <associatedPerson><name><prefix>Dr</prefix><given>Claire</given><family>MEDECIN</family>
      </name></associatedPerson></associatedEntity></participant>"""
    div, _ = div_of("<paragraph>Rien</paragraph>", extra_header=prescriber)
    rows = {
        "".join(tr[0].itertext()): " ".join("".join(tr[1].itertext()).split())
        for tr in parsed(div).iter(f"{XHTML}tr")
        if tr[0].tag == f"{XHTML}th"
    }
    assert rows["Patient"] == "ANNE MARIE TESTARD, ANNE DUPRE (nom utilisé)"
    assert rows["INS (NIR de test)"] == "280029912345678"
    assert rows["Date de naissance"] == "14/02/1980"
    assert rows["Sexe"] == "féminin"
    assert rows["Laboratoire"] == "Laboratoire Test"
    assert rows["Prescripteur"] == "Dr Claire MEDECIN"
    assert rows["Biologiste responsable"] == "Jean BIOLO, le 12/03/2025 à 10:15"
    assert rows["Prélèvement"] == "12/03/2025 à 08:15"
    assert rows["Compte rendu du"] == "12/03/2025 à 10:15"
    assert parsed(div).find(f"{XHTML}h1").text == "Compte rendu d'examens biologiques"
    assert parsed(div).get("lang") == "fr-FR"


# The narrative block ------------------------------------------------------------

TABLE = """<table border="1" width="100%"><caption>Biochimie</caption>
  <thead><tr><th styleCode="Bold">Examen</th><th colspan="2">Résultat</th></tr></thead>
  <tbody>
    <tr><td rowspan="2" align="left">Glycémie</td><td>5.3 mmol/L</td><td>0.95 g/L</td></tr>
    <tr><td colspan="2" valign="top">contrôlé</td></tr>
  </tbody><tfoot><tr><td>pied</td></tr></tfoot></table>"""


def test_tables_keep_their_structure_spans_and_alignment() -> None:
    div, conversion = div_of(TABLE)
    assert (
        '<table border="1" width="100%"><caption>Biochimie</caption><thead><tr>'
        '<th style="font-weight: bold">Examen</th><th colspan="2">Résultat</th></tr></thead>'
        '<tbody><tr><td rowspan="2" align="left">Glycémie</td><td>5.3 mmol/L</td>'
        "<td>0.95 g/L</td></tr><tr>"
        '<td colspan="2" valign="top">contrôlé</td></tr></tbody><tfoot><tr><td>pied</td></tr>'
        "</tfoot></table>"
    ) in div
    assert not sanitised(conversion)


def test_lists_paragraphs_styles_breaks_and_scripts() -> None:
    div, conversion = div_of(
        '<paragraph><caption>Note</caption>Jeûne <content styleCode="Bold Italics">'
        "respecté</content><br/>H<sub>2</sub>O, 10<sup>9</sup>/L "
        '<content styleCode="Underline">souligné</content> '
        '<content revised="delete">ancien</content></paragraph>'
        '<list listType="ordered"><caption>Étapes</caption><item>un</item>'
        "<item><list><item>deux a</item></list></item></list>"
        '<list styleCode="Square"><item>point</item></list>'
    )
    # a caption belongs in a table only: a paragraph's leads it in bold
    assert '<p><span style="font-weight: bold">Note</span> Jeûne ' in div
    assert '<span style="font-weight: bold; font-style: italic">respecté</span><br/>' in div
    assert "H<sub>2</sub>O, 10<sup>9</sup>/L" in div
    assert '<span style="text-decoration: underline">souligné</span>' in div
    assert '<span style="text-decoration: line-through">ancien</span>' in div
    assert (
        '<p style="font-weight: bold">Étapes</p><ol><li>un</li><li><ul><li>deux a</li></ul>'
        "</li></ol>" in div
    )
    assert '<ul style="list-style-type: square"><li>point</li></ul>' in div
    assert not sanitised(conversion)


def test_a_paragraph_holding_a_table_becomes_a_div() -> None:
    div, _ = div_of("<paragraph>Avant<table><tr><td>x</td></tr></table></paragraph>")
    assert "<div>Avant<table><tbody><tr><td>x</td></tr></tbody></table></div>" in div


def test_footnotes_are_numbered_and_written_after_their_section() -> None:
    div, _ = div_of(
        '<paragraph>Glycémie<footnoteRef IDREF="fn-a"/> et urée'
        '<footnote ID="fn-a">Prélèvement <content styleCode="Bold">non</content> à jeun'
        '</footnote></paragraph><paragraph>Encore<footnoteRef IDREF="fn-a"/></paragraph>'
    )
    link = '<sup><a href="#crbio-fn-1">1</a></sup>'
    assert div.count(link) == 3  # the footnote and both references
    assert (
        '<p id="crbio-fn-1" style="font-size: smaller"><sup>1</sup> Prélèvement '
        '<span style="font-weight: bold">non</span> à jeun</p>'
    ) in div


def test_images_and_documents_become_text_placeholders() -> None:
    div, _ = div_of(
        '<renderMultiMedia referencedObject="img-1"><caption>Tracé</caption></renderMultiMedia>'
        '<renderMultiMedia referencedObject="nowhere"/>'
    )
    assert "<img" not in div
    assert '<span style="font-style: italic">[Tracé : contenu multimédia non affiché]</span>' in div
    assert "[Contenu multimédia non affiché]" in div


def test_safe_links_are_kept_others_give_their_text() -> None:
    div, conversion = div_of(
        '<paragraph ID="haut">Voir <linkHtml href="https://www.e-cancer.fr/depistage">le site'
        '</linkHtml>, <linkHtml href="#haut">le haut</linkHtml>, '
        '<linkHtml href="#ailleurs">nulle part</linkHtml>, '
        '<linkHtml href="JaVaScRiPt:alert(1)">piège</linkHtml>, '
        '<linkHtml href=" javascript:alert(1)">piège 2</linkHtml>, '
        '<linkHtml href="data:text/html;base64,PHNjcmlwdD4=">données</linkHtml>, '
        '<linkHtml href="//evil.example/x">sans schéma</linkHtml>, '
        '<linkHtml href="https://user:secret@evil.example/">identifiants</linkHtml>, '
        '<linkHtml href="file:///etc/passwd">fichier</linkHtml>.</paragraph>'
    )
    assert '<a href="https://www.e-cancer.fr/depistage">le site</a>' in div
    assert '<a href="#haut">le haut</a>' in div
    assert div.count("<a ") == 2
    for text in ("nulle part", "piège", "piège 2", "données", "sans schéma", "identifiants"):
        assert text in div
    assert "javascript" not in div.lower() and "data:" not in div and "evil" not in div
    assert sanitised(conversion)


# Hostile markup ------------------------------------------------------------------


def test_scripts_events_and_foreign_elements_are_dropped_their_text_kept() -> None:
    """Markup FHIR may not show is dropped, its words kept; a script's or a style sheet's
    content is code, not words: dropped with it."""
    div, conversion = div_of(
        '<paragraph onclick="alert(1)" onmouseover="alert(2)">clic</paragraph>'
        "<script>alert(3)</script>"
        '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(4)</x:script>'
        '<svg:svg xmlns:svg="http://www.w3.org/2000/svg"><svg:script>alert(6)</svg:script>'
        "<svg:style>text { fill: red }</svg:style></svg:svg>"
        "<STYLE>p { color: red }</STYLE>"
        '<x:img xmlns:x="http://www.w3.org/1999/xhtml" src="https://evil.example/p.gif"/>'
        '<h:iframe xmlns:h="http://www.w3.org/1999/xhtml" src="https://evil.example"/>'
        '<form action="https://evil.example"><input value="x"/>formulaire</form>'
        '<svg:svg xmlns:svg="http://www.w3.org/2000/svg" onload="alert(5)"><svg:text>dessin'
        "</svg:text></svg:svg>"
        '<inconnu xmlns="">sans espace</inconnu><blink>clignote</blink>'
        '<content styleCode="Bold&quot; onclick=&quot;x" style="background:url(https://evil)">'
        "styles</content>"
        '<table onload="x"><tr><td colspan="2 onclick=x" rowspan="-1" align="javascript:">'
        "case</td></tr></table>"
    )
    root = parsed(div)
    names = {el.tag for el in root.iter()}
    assert names <= {XHTML + n for n in ELEMENTS}
    assert not any(a.startswith("on") for el in root.iter() for a in el.attrib)
    assert "evil" not in div and "url(" not in div and "<script" not in div
    text = "".join(root.itertext())
    for kept in ("clic", "formulaire", "dessin", "sans espace", "clignote", "styles", "case"):
        assert kept in text
    assert "alert" not in text and "fill" not in text and "color" not in text
    assert "<td>case</td>" in div  # no span, alignment or event survived
    [message] = sanitised(conversion)
    for dropped in ("<script>", "<img>", "<iframe>", "<form>", "<svg>", "<STYLE>",
                    "@onclick", "@style"):  # fmt: skip
        assert dropped in message


def test_entity_like_text_and_cdata_stay_text() -> None:
    div, _ = div_of(
        "<paragraph>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; &amp;amp; "
        "<![CDATA[<script>alert(2)</script> & <b onclick='x'>]]> 1 &lt; 2</paragraph>"
    )
    assert "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; &amp;amp; " in div
    assert "&lt;script&gt;alert(2)&lt;/script&gt; &amp; &lt;b onclick='x'&gt; 1 &lt; 2" in div
    paragraph = parsed(div).find(f".//{XHTML}p")
    assert len(paragraph) == 0  # text only: no element came out of the text


def test_ids_are_kept_once_and_only_when_valid() -> None:
    div, _ = div_of(
        '<content ID="a1">un</content><content ID="a1">deux</content>'
        '<content ID="1bad">trois</content><content ID="x&quot; onclick=&quot;y">quatre</content>'
    )
    assert div.count('id="a1"') == 1
    assert 'id="1bad"' not in div and "onclick" not in div


def test_tables_nested_500_deep_are_cut_to_text() -> None:
    depth = 500
    narrative = "<table><tbody><tr><td>" * depth + "au fond" + "</td></tr></tbody></table>" * depth
    div, conversion = div_of(narrative)
    assert "au fond" in "".join(parsed(div).itertext())
    assert div.count("<table") < 20
    assert any("nested too deep" in m for m in sanitised(conversion))


def test_stray_content_in_tables_rows_and_lists_is_wrapped() -> None:
    div, _ = div_of(
        "<table>perdu<tbody>égaré<tr>seul<td>ok</td><paragraph>para</paragraph></tr></tbody>"
        "</table><list>libre<item>ok</item></list><td>cellule seule</td><item>item seul</item>"
    )
    assert "<table><tbody><tr><td>perdu</td></tr></tbody><tbody><tr><td>égaré</td></tr>" in div
    assert "<tr><td>seul</td><td>ok</td><td><p>para</p></td></tr>" in div
    assert "<ul><li>libre</li><li>ok</li></ul>" in div
    assert "cellule seule" in div and "<td>cellule" not in div
    assert "item seul" in div and "<li>item seul" not in div


def test_a_huge_narrative_is_converted_whole() -> None:
    rows = "".join(
        f'<tr><td>Analyse {i}</td><td styleCode="Bold">{i}.5 mmol/L</td></tr>' for i in range(5000)
    )
    div, _ = div_of(f"<table><tbody>{rows}</tbody></table>")
    assert div.count("<tr>") == 5000 + div.count('<th scope="row"')  # and the header's rows
    assert "Analyse 4999" in div


# The tables themselves -----------------------------------------------------------


def test_every_xhtml_element_the_converter_writes_is_allowed_by_fhir() -> None:
    from tests.narrative_rules import R4_ATTRIBUTES, R4_ELEMENTS

    assert set(ELEMENTS) <= R4_ELEMENTS
    assert {a for attributes in ELEMENTS.values() for a in attributes} <= R4_ATTRIBUTES
    for rule in CDA_ELEMENTS.values():
        assert rule.tag == "" or rule.tag in ELEMENTS
        assert set(rule.attributes.values()) <= R4_ATTRIBUTES


def test_the_writer_refuses_elements_outside_the_list() -> None:
    writer = XhtmlWriter()
    with pytest.raises(ValueError, match="script"):
        writer.start("script")
    writer.start("p", (("onclick", "x"), ("style", "color: red; background: url(x)")))
    writer.end("p")
    assert writer.result() == '<div xmlns="http://www.w3.org/1999/xhtml"><p></p></div>'
