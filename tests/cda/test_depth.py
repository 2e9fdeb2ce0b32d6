"""Nesting beyond any real report is refused with `TooDeepError`, never `RecursionError`.

Every recursive walk (sections, entries, REFR organizers, code translations, and the
mappers that follow them) stops at `MAX_DEPTH`; libxml2's own limit (2,048 levels)
gives the same refusal. Real reports nest two levels deep: the bound leaves room.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cda import read_document
from bridge.cda.limits import MAX_DEPTH
from bridge.cda.model import Battery, LabReportAct
from bridge.errors import TooDeepError
from bridge.mapping import convert
from tests.builders import GLUCOSE_CODE, document, result
from tests.helpers import EXAMPLES, corpus_files, example_files, resources_of, roundtrip

LOINC = 'code="2345-7" codeSystem="2.16.840.1.113883.6.1" displayName="Glucose"'
OBSERVATION = f'<observation classCode="OBS" moodCode="EVN"><code {LOINC}/></observation>'


def nested(opening: str, closing: str, depth: int, inner: str = "") -> str:
    return opening * depth + inner + closing * depth


def translations(depth: int) -> str:
    chain = nested(f"<translation {LOINC}>", "</translation>", depth)
    return GLUCOSE_CODE.replace("</code>", chain + "</code>")


def refr_organizers(depth: int) -> str:
    chain = nested(
        '<organizer classCode="CLUSTER" moodCode="EVN"><component>',
        "</component></organizer>",
        depth,
        OBSERVATION,
    )
    return f'<entryRelationship typeCode="REFR">{chain}</entryRelationship>'


def batteries(depth: int) -> str:
    chain = nested(
        '<organizer classCode="BATTERY" moodCode="EVN"><statusCode code="completed"/><component>',
        "</component></organizer>",
        depth,
        result().replace("entryRelationship", "component"),
    )
    return f'<entryRelationship typeCode="COMP">{chain}</entryRelationship>'


def sections(depth: int) -> str:
    chapter = '<templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>'
    return nested(f"<component><section>{chapter}", "</section></component>", depth)


DEEP = {
    "translations": lambda n: document(result(code=translations(n))),
    "refr-organizers": lambda n: document(result(rest=refr_organizers(n))),
    "batteries": lambda n: document(batteries(n)),
    "sections": lambda n: document(result(), extra_sections=sections(n)),
}


@pytest.mark.parametrize("depth", [1_000, MAX_DEPTH + 2])  # two XML levels per step: 2,000
@pytest.mark.parametrize("kind", DEEP)
def test_nesting_beyond_the_bound_is_too_deep(kind: str, depth: int) -> None:
    with pytest.raises(TooDeepError) as refused:
        convert(DEEP[kind](depth))
    assert refused.value.code == "too-deep"
    assert str(MAX_DEPTH) in str(refused.value)


def test_1200_translations_are_too_deep() -> None:
    with pytest.raises(TooDeepError, match="translations"):
        convert(DEEP["translations"](1_200))


@pytest.mark.parametrize("kind", DEEP)
def test_nesting_within_the_bound_converts(kind: str) -> None:
    conversion = convert(DEEP[kind](MAX_DEPTH - 2))
    assert conversion.counts["DiagnosticReport"] == 1


def test_deeper_than_libxml2_accepts_is_too_deep_not_malformed() -> None:
    with pytest.raises(TooDeepError, match="2048 levels"):
        convert(document(result(rest=nested("<x>", "</x>", 3_000))))


def test_deep_narrative_markup_converts() -> None:
    """Narrative nested beyond the bound is kept as its text: never a reason to refuse."""
    deep_text = nested("<content>", "</content>", 2_000, "à jeun")
    data = document(result()).replace(b">Glucose \xc3\xa0 jeun<", f">{deep_text}<".encode())
    conversion = convert(data)
    assert conversion.counts["Observation"] == 1
    [report] = resources_of(roundtrip(conversion), "DiagnosticReport")
    assert "à jeun" in report["text"]["div"]


def test_real_reports_nest_far_below_the_bound() -> None:
    """The bound leaves room: no example or ANS report nests more than a few levels."""
    for path in example_files() + corpus_files():
        root = read_document(path.read_bytes()).node
        for name in ("section", "organizer", "translation"):
            tag = f"{{urn:hl7-org:v3}}{name}"
            deepest = max((len(list(el.iterancestors(tag))) for el in root.iter(tag)), default=0)
            assert deepest + 1 <= MAX_DEPTH // 8, (path.name, name)


# The mappers follow the model by recursion too: a document built (not read) deeper than
# any reading allows is refused by them as well.


def test_mapping_refuses_sections_nested_beyond_the_bound() -> None:
    doc = read_document((EXAMPLES / "haemogram-battery.xml").read_bytes())
    section = doc.sections[0]
    for _ in range(MAX_DEPTH + 1):
        section = dataclasses.replace(section, sections=(section,))
    with pytest.raises(TooDeepError, match="sections"):
        convert(dataclasses.replace(doc, sections=(section,)))


def test_mapping_refuses_organizers_nested_beyond_the_bound() -> None:
    doc = read_document((EXAMPLES / "haemogram-battery.xml").read_bytes())
    section = doc.sections[0].sections[0]  # chapter, sub-chapter
    act = next(e for e in section.entries if isinstance(e, LabReportAct))
    battery = next(m for m in act.members if isinstance(m, Battery))
    for _ in range(MAX_DEPTH + 1):
        battery = dataclasses.replace(battery, members=(battery,))
    act = dataclasses.replace(act, members=(battery,))
    section = dataclasses.replace(section, entries=(act,))
    with pytest.raises(TooDeepError, match="entries"):
        convert(dataclasses.replace(doc, sections=(section,)))


def test_the_command_line_names_the_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.cli.main import app

    (tmp_path / "deep.xml").write_bytes(DEEP["translations"](1_200))
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(app, ["convert", "deep.xml"])
    assert outcome.exit_code == 1
    assert "too-deep" in outcome.stderr and "internal error" not in outcome.stderr


def test_references_are_rewritten_in_json_of_any_depth() -> None:
    """Storing a client's transaction rewrites its references by a walk, not by recursion."""
    from bridge.mapping.references import rewrite_references

    node: dict[str, object] = {"reference": "urn:uuid:1"}
    for _ in range(100_000):
        node = {"item": [node]}
    rewritten = rewrite_references(node, {"urn:uuid:1": "Patient/1"})
    for _ in range(100_000):
        rewritten = rewritten["item"][0]  # type: ignore[index]
        node = node["item"][0]  # type: ignore[index]
    assert rewritten == {"reference": "Patient/1"} and node == {"reference": "urn:uuid:1"}
