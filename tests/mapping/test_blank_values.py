"""FHIR has no empty strings and no strings made only of whitespace: values are trimmed
where they leave the CDA readers, and a value that is blank once trimmed is no value.

Blank includes Unicode's whitespace (no-break spaces U+00A0, U+2007, U+202F) and the
invisible characters editors leave behind (zero-width space U+200B, BOM U+FEFF).
"""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from bridge.cda.reading.xml import BLANK, collapsed, trimmed
from bridge.mapping import convert
from tests.builders import GLUCOSE_CODE, document, result
from tests.helpers import BLANK_SAMPLES, empty_values, resources_of, roundtrip, validate_bundle


def test_blank_is_every_unicode_whitespace_and_the_invisible_spaces() -> None:
    whitespace = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert whitespace <= set(BLANK)
    assert {"\u200b", "\ufeff", "\u2060"} <= set(BLANK)


@pytest.mark.parametrize("blank", BLANK_SAMPLES)
def test_blank_values_read_as_none(blank: str) -> None:
    assert trimmed(blank) is None and collapsed(blank) is None
    assert trimmed(f"{blank}g/L{blank}") == "g/L"
    assert collapsed(f"{blank}Glucose \n  à jeun{blank}") == "Glucose à jeun"


def blank_everywhere(blank: str) -> bytes:
    """A report whose optional values are all `blank`, in attributes and in text."""
    value = f'<value xsi:type="PQ" value="5.30" unit="{blank}"/>'
    rest = (
        f'<interpretationCode code="{blank}" codeSystem="2.16.840.1.113883.5.83" '
        f'displayName="{blank}"/>'
        f'<methodCode code="M1" codeSystem="{blank}" displayName="{blank}"/>'
        f'<referenceRange><observationRange><text>{blank}</text><value xsi:type="IVL_PQ">'
        f'<low value="3.9" unit="{blank}"/><high value="5.5" unit="mmol/L"/></value>'
        "</observationRange></referenceRange>"
    )
    code = GLUCOSE_CODE.replace(
        'displayName="Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique"',
        f'displayName="{blank}"',
    ).replace("</code>", f'<translation code="{blank}" codeSystem="1.2.3"/></code>')
    data = document(result(value, code=code, rest=rest)).decode()
    for old, new in [
        (
            '<id root="1.2.3.4.5" extension="IPP-77"/>',
            f'<id root="1.2.3.4.5" extension="{blank}"/>',
        ),
        ("<given>Jean</given>", f"<given>{blank}</given><prefix>{blank}</prefix>"),
        (
            "<name>Laboratoire Test</name></representedOrganization>",
            f"<name>{blank}</name><telecom value='{blank}'/><addr><streetAddressLine>{blank}"
            f"</streetAddressLine><city>{blank}</city></addr></representedOrganization>",
        ),
        ('<languageCode code="fr-FR"/>', f'<languageCode code="{blank}"/>'),
        ("<title>Biochimie</title>", f"<title>{blank}</title>"),
    ]:
        assert data.count(old) >= 1, old
        data = data.replace(old, new, 1)
    return data.encode("utf-8")


@pytest.mark.parametrize("blank", BLANK_SAMPLES, ids=ascii)
def test_blank_values_never_reach_the_bundle(blank: str) -> None:
    conversion = convert(blank_everywhere(blank))
    bundle = roundtrip(conversion)
    assert empty_values(bundle) == []
    validate_bundle(bundle)
    [observation] = resources_of(bundle, "Observation")
    assert observation["valueQuantity"] == {"value": Decimal("5.30")}  # the blank unit is no unit


@pytest.mark.parametrize("blank", [" ", "\u00a0", "\u200b", "\ufeff\u202f"], ids=ascii)
def test_a_blank_result_code_is_lost_with_an_issue(blank: str) -> None:
    code = f'<code code="{blank}" codeSystem="2.16.840.1.113883.6.1" displayName="{blank}"/>'
    conversion = convert(document(result(code=code)))
    [observation] = resources_of(roundtrip(conversion), "Observation")
    assert "coding" not in observation["code"]  # no Coding with a blank code
    assert "code-missing" in {issue.code for issue in conversion.issues}


@pytest.mark.parametrize(
    ("written", "code"),
    [(" 2345-7 ", "2345-7"), ("\u00a02345-7\u200b", "2345-7"), ("LAB  X\t\t1", "LAB X 1")],
    ids=ascii,
)
def test_codes_are_trimmed_and_inner_whitespace_made_one_space(written: str, code: str) -> None:
    element = f'<code code="{written}" codeSystem="2.16.840.1.113883.6.1" displayName="G"/>'
    conversion = convert(document(result(code=element)))
    [observation] = resources_of(roundtrip(conversion), "Observation")
    assert observation["code"]["coding"][0]["code"] == code


@pytest.mark.parametrize("blank", BLANK_SAMPLES, ids=ascii)
def test_text_composed_from_blank_parts_is_never_blank(blank: str) -> None:
    """An unreadable interval is kept as written: from its non-blank parts only."""
    value = (
        f'<value xsi:type="IVL_PQ"><low value="{blank}" unit="{blank}"/>'
        f'<high value="{blank}abc" unit="g/L{blank}"/></value>'
    )
    [observation] = resources_of(roundtrip(convert(document(result(value)))), "Observation")
    assert observation["valueString"] == "abc g/L"
