"""A stored narrative is rebuilt from an allow-list before it reaches a page."""

from __future__ import annotations

from bridge.pages.narrative import safe_narrative

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def test_fhir_narrative_markup_is_kept() -> None:
    div = (
        f'<div {XHTML} lang="fr-FR"><h2>BIOCHIMIE</h2><table summary="r"><tbody><tr>'
        '<th scope="row" align="left">Glycémie</th><td colspan="2">6,2 mmol/L</td></tr>'
        '</tbody></table><p>a<br/>b <a href="#n1">1</a> <a href="https://ans.example/x">x</a>'
        "</p><ul><li>un</li></ul></div>"
    )
    assert str(safe_narrative(div)) == (
        '<div lang="fr-FR"><h2>BIOCHIMIE</h2><table summary="r"><tbody><tr>'
        '<th scope="row" align="left">Glycémie</th><td colspan="2">6,2 mmol/L</td></tr>'
        '</tbody></table><p>a<br>b <a href="#n1">1</a> <a href="https://ans.example/x">x</a>'
        "</p><ul><li>un</li></ul></div>"
    )


def test_scripts_handlers_foreign_links_and_styles_are_dropped() -> None:
    div = (
        f'<div {XHTML}><script>alert(1)</script><p onclick="x()" style="color:red">ok</p>'
        '<a href="javascript:alert(2)">j</a><a href="data:text/html,x">d</a>'
        '<span style="background:url(http://evil.example/x)">s</span>'
        '<iframe src="http://evil.example">frame text</iframe><!-- note --><form>f</form></div>'
    )
    safe = str(safe_narrative(div))
    assert safe == ('<div><p style="color:red">ok</p><a>j</a><a>d</a><span>s</span>f</div>')


def test_entities_and_bad_xml_never_expand_or_pass_through() -> None:
    bomb = '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]><div>&a;&a;</div>'
    assert "aaaaaaaaaa" not in str(safe_narrative(bomb) or "")
    broken = "<div><p>unclosed <script>alert(1)</div>"
    assert str(safe_narrative(broken)).startswith("<pre>&lt;div&gt;")
    assert safe_narrative("") is None and safe_narrative(None) is None
