"""Observation.code.text names the analysis, never the value its originalText points at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.mapping import convert
from bridge.mapping.code_text import names_analysis
from tests.builders import convert_document, document, result
from tests.helpers import corpus_files, example_files

UNLABELLED = (
    '<code code="40193-5" codeSystem="2.16.840.1.113883.6.1">'
    '<originalText><reference value="#{ref}"/></originalText></code>'
)
GLUCOSE = (
    '<code code="40193-5" codeSystem="2.16.840.1.113883.6.1" '
    'displayName="Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique">'
    '<originalText><reference value="#{ref}"/></originalText></code>'
)


def code_texts(*results: str, narrative: str, **options: Any) -> list[str | None]:
    conversion = convert_document(*results, narrative=narrative, **options)
    return [
        entry["resource"]["code"].get("text")
        for entry in conversion.bundle["entry"]
        if entry["resource"]["resourceType"] == "Observation"
    ]


def table(*rows: str, head: str = "") -> str:
    thead = f"<thead>{head}</thead>" if head else ""
    return f"<table>{thead}<tbody>{''.join(rows)}</tbody></table>"


def test_a_reference_to_the_value_cell_takes_the_row_label() -> None:
    narrative = table(
        '<tr><td>Folates</td><td><content ID="v1">25 ug/L</content></td><td>(5 - 35)</td></tr>',
        head="<tr><th>Examen</th><th>Résultats</th><th>Valeurs de référence</th></tr>",
    )
    value = '<value xsi:type="PQ" value="25" unit="ug/L"/>'
    assert code_texts(result(value, code=GLUCOSE.format(ref="v1")), narrative=narrative) == [
        "Folates"
    ]


def test_a_label_cell_spanning_rows_names_the_second_unit_too() -> None:
    narrative = table(
        '<tr><td rowspan="2">Glycémie à jeun</td><td><content ID="v1">5.3 mmol/L</content></td>'
        "<td>(3.9 - 6.1)</td></tr>",
        '<tr><td><content ID="v2">0.95 g/L</content></td><td>(0.70 - 1.10)</td></tr>',
    )
    first = result(code=GLUCOSE.format(ref="v1"))
    second = result('<value xsi:type="PQ" value="0.95" unit="g/L"/>', code=GLUCOSE.format(ref="v2"))
    assert code_texts(first, second, narrative=narrative) == ["Glycémie à jeun"] * 2


def test_the_nearest_label_to_the_left_wins_over_a_group_label() -> None:
    narrative = table(
        '<tr><td rowspan="2">Antibiogramme</td><td>Amoxicilline</td>'
        '<td><content ID="v1">8 mg/L</content></td><td>R</td></tr>'
        '<tr><td>Gentamicine</td><td><content ID="v2">&lt; 0.5 mg/L</content></td><td>S</td></tr>'
    )
    codes = [
        result('<value xsi:type="PQ" value="8" unit="mg/L"/>', code=UNLABELLED.format(ref=ref))
        for ref in ("v1", "v2")
    ]
    assert code_texts(*codes, narrative=narrative) == ["Amoxicilline", "Gentamicine"]


def test_flags_and_second_units_left_of_the_value_are_skipped() -> None:
    narrative = table(
        "<tr><td>Glycémie</td><td>H</td><td>1.30 g/L</td>"
        '<td><content ID="v1">7.2 mmol/L</content></td></tr>'
    )
    value = '<value xsi:type="PQ" value="7.2" unit="mmol/L"/>'
    assert code_texts(result(value, code=UNLABELLED.format(ref="v1")), narrative=narrative) == [
        "Glycémie"
    ]


def test_a_table_with_one_column_per_analysis_takes_the_column_header() -> None:
    narrative = table(
        '<tr><td>12/03/2025</td><td><content ID="v1">5.3 mmol/L</content></td>'
        '<td><content ID="v2">6.1 mmol/L</content></td></tr>',
        head="<tr><th>Date</th><th>Glycémie</th><th>Urée</th></tr>",
    )
    codes = [result(code=UNLABELLED.format(ref=ref)) for ref in ("v1", "v2")]
    assert code_texts(*codes, narrative=narrative) == ["Glycémie", "Urée"]


def test_a_generic_column_header_is_no_label() -> None:
    narrative = table(
        '<tr><td>5.3</td><td><content ID="v1">5.3 mmol/L</content></td></tr>',
        head="<tr><th>Valeur</th><th>Résultats</th></tr>",
    )
    # nothing in the table names it: the displayName does
    assert code_texts(result(code=GLUCOSE.format(ref="v1")), narrative=narrative) == [
        "Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique"
    ]


def test_an_empty_anchor_in_the_label_cell_takes_the_cell() -> None:
    narrative = table(
        '<tr><td>Glycémie à jeun<content ID="v1"/><br/>(Glucose oxydase)</td>'
        "<td>4.89 mmol/L</td></tr>"
    )
    conversion = convert_document(result(code=GLUCOSE.format(ref="v1")), narrative=narrative)
    [obs] = [e["resource"] for e in conversion.bundle["entry"] if "valueQuantity" in e["resource"]]
    assert obs["code"]["text"] == "Glycémie à jeun (Glucose oxydase)"
    assert not [i for i in conversion.issues if i.code == "narrative-reference-missing"]


def test_a_reference_to_a_whole_row_takes_its_label_cell() -> None:
    narrative = table('<tr ID="row-1"><td>Créatinine</td><td>61 umol/L</td></tr>')
    value = '<value xsi:type="PQ" value="61" unit="umol/L"/>'
    assert code_texts(result(value, code=UNLABELLED.format(ref="row-1")), narrative=narrative) == [
        "Créatinine"
    ]


def test_a_coded_value_is_no_label() -> None:
    narrative = table(
        '<tr><td>Recherche de RAI</td><td><content ID="v1">Négative</content></td></tr>'
    )
    value = (
        '<value xsi:type="CD" code="260385009" codeSystem="2.16.840.1.113883.6.96" '
        'displayName="Négative"/>'
    )
    assert code_texts(result(value, code=UNLABELLED.format(ref="v1")), narrative=narrative) == [
        "Recherche de RAI"
    ]


def test_a_literal_original_text_holding_the_value_is_replaced() -> None:
    code = (
        '<code code="40193-5" codeSystem="2.16.840.1.113883.6.1" displayName="Glycémie à jeun">'
        "<originalText>5.30 mmol/L</originalText></code>"
    )
    assert code_texts(result(code=code), narrative="") == ["Glycémie à jeun"]


def test_without_any_label_in_the_document_the_jdv_label_then_nothing() -> None:
    narrative = table('<tr><td><content ID="v1">5.30 mmol/L</content></td></tr>')
    code = UNLABELLED.format(ref="v1")
    assert code_texts(result(code=code), narrative=narrative) == [
        "Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique"  # the JDV seed's label
    ]
    other = code.replace("40193-5", "2951-2")  # sodium: not in the seed
    assert code_texts(result(code=other), narrative=narrative) == [None]
    conversion = convert(
        document(result(code=other), narrative=narrative),
        labels={"2951-2": "Sodium"}.get,
    )
    [obs] = [e["resource"] for e in conversion.bundle["entry"] if "valueQuantity" in e["resource"]]
    assert obs["code"]["text"] == "Sodium"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Folates", True),
        ("25-OH vitamine D", True),
        ("5-HIAA", True),
        ("K", True),
        ("Hématies (10*12/L)", True),
        ("25 ug/L", False),
        ("0,95 g/L", False),
        ("< 1.0 mg/L", False),
        ("100 000 /mL", False),
        ("(5 - 35)", False),
        ("1/80", False),
        ("mmol/L", False),
        ("10*9/L", False),
        ("12/03/2025 08:30", False),
        ("HH", False),
        ("—", False),
        ("", False),
    ],
)
def test_what_names_an_analysis(text: str, names: bool) -> None:
    assert names_analysis(text) is names


def _results(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The result Observations: a value or a reason for none, no members."""
    found = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation" or "hasMember" in resource:
            continue
        found.append(resource)
        found += resource.get("contained", [])
    return found


def _value_text(obs: dict[str, Any]) -> str | None:
    quantity = obs.get("valueQuantity")
    if quantity is not None:
        return f"{quantity.get('value')} {quantity.get('unit', '')}".strip()
    return obs.get("valueString")


@pytest.mark.parametrize("path", corpus_files() + example_files(), ids=lambda p: Path(p).name)
def test_every_result_is_named_by_its_analysis(path: Path) -> None:
    conversion = convert(path.read_bytes())
    results = _results(conversion.bundle)
    for obs in results:
        text = obs["code"].get("text")
        assert text, f"{obs['id']}: no code.text"
        assert names_analysis(text), f"{obs['id']}: code.text {text!r} names no analysis"
        value = _value_text(obs)
        assert value is None or " ".join(text.split()) != value, f"code.text is the value {value}"
        unit = obs.get("valueQuantity", {}).get("unit")
        assert text != unit
