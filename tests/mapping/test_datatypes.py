"""HL7 v3 data types → FHIR data types: times, decimals, units, identifiers, names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.cda.datatypes import II, NamePart, PersonName, Telecom
from bridge.cda.model import CdaDocument, DocumentKind, Header
from bridge.mapping.context import MappingContext
from bridge.mapping.correspondence import seed_correspondence
from bridge.mapping.datatypes import (
    date_time,
    decimal,
    human_names,
    identifier,
    instant,
    quantity,
    telecom,
)
from bridge.mapping.units import read_unit


@pytest.fixture
def ctx() -> MappingContext:
    header = Header(
        document_id=II("1.2.3"),
        code=None,  # type: ignore[arg-type]
        kind=DocumentKind("CR-BIO", "2024.01", True),
    )
    return MappingContext(CdaDocument(header), "1.2.3|", seed_correspondence)


@pytest.mark.parametrize(
    ("written", "fhir"),
    [
        ("2024", "2024"),
        ("202411", "2024-11"),
        ("20241110", "2024-11-10"),
        ("20241110+0100", "2024-11-10"),
        ("2024111007+0100", "2024-11-10T07:00:00+01:00"),
        ("202411100735+0100", "2024-11-10T07:35:00+01:00"),
        ("20241110073512+0100", "2024-11-10T07:35:12+01:00"),
        ("20241110073512.25-0530", "2024-11-10T07:35:12.25-05:30"),
        ("20240701101500+0200", "2024-07-01T10:15:00+02:00"),
    ],
)
def test_timestamps_keep_their_precision_and_offset(
    ctx: MappingContext, written: str, fhir: str
) -> None:
    assert date_time(written, ctx, None) == fhir
    assert not list(ctx.issues)


def test_a_time_without_offset_is_reduced_to_the_date(ctx: MappingContext) -> None:
    assert date_time("20241110073512", ctx, None) == "2024-11-10"
    assert [i.code for i in ctx.issues] == ["time-without-offset"]


@pytest.mark.parametrize(
    "written",
    [
        "20092012081500+0100",
        "20240230",
        "2024111025+0100",
        "2024-11-10",
        "yesterday",
        "20241110073512+1900",
    ],
)
def test_impossible_timestamps_are_left_out_with_a_warning(
    ctx: MappingContext, written: str
) -> None:
    assert date_time(written, ctx, None) is None
    assert [i.code for i in ctx.issues] == ["invalid-date"]


def test_instant_needs_a_time_and_an_offset(ctx: MappingContext) -> None:
    assert instant("202411101310+0100", ctx, None) == "2024-11-10T13:10:00+01:00"
    assert instant("20241110", ctx, None) is None


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("0.70", "0.70"),
        ("63.000000", "63.000000"),
        ("+5", "5"),
        (".5", "0.5"),
        ("132", "132"),
        ("1e3", "1E+3"),
    ],
)
def test_decimals_keep_the_digits_written(ctx: MappingContext, written: str, value: str) -> None:
    assert str(decimal(written, ctx, None)) == value


def test_a_decimal_comma_is_read_as_a_decimal_point_with_a_warning(ctx: MappingContext) -> None:
    assert decimal("0,95", ctx, None) == Decimal("0.95")
    [issue] = ctx.issues
    assert issue.code == "decimal-comma" and issue.input == "0,95"


@pytest.mark.parametrize("written", ["abc", "1.2.3", "NaN", "Infinity", "", "1,000,000"])
def test_non_numbers_are_refused_with_a_warning(ctx: MappingContext, written: str) -> None:
    assert decimal(written, ctx, None) is None
    assert [i.code for i in ctx.issues] == ["invalid-number"]


def test_quantity_has_ucum_system_and_code(ctx: MappingContext) -> None:
    assert quantity("0.95", "g/L", ctx, None) == {
        "value": Decimal("0.95"),
        "unit": "g/L",
        "system": "http://unitsofmeasure.org",
        "code": "g/L",
    }


def test_a_comparator_written_in_the_value_is_kept(ctx: MappingContext) -> None:
    assert quantity("<0.5", "mg/L", ctx, None)["comparator"] == "<"  # type: ignore[index]


def test_giga_per_litre_is_never_gauss(ctx: MappingContext) -> None:
    q = quantity("8.2", "G/L", ctx, None)
    assert q is not None and q["unit"] == "G/L" and q["code"] == "10*9/L"
    assert [i.code for i in ctx.issues] == ["unit-alias"]


def test_a_unit_that_is_not_ucum_stays_text_only(ctx: MappingContext) -> None:
    q = quantity("3", "croix", ctx, None)
    assert q == {"value": Decimal("3"), "unit": "croix"}
    assert [i.code for i in ctx.issues] == ["unit-not-ucum"]


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("µmol/L", "umol/L"),
        ("μg/L", "ug/L"),
        ("UI/L", "[IU]/L"),
        ("mUI/L", "m[IU]/L"),
        ("T/L", "10*12/L"),
        ("mL/min/1.73m²", "mL/min/{1.73_m2}"),
        ("10^9/L", "10*9/L"),
        ("m[IU]/L", "m[IU]/L"),
        ("10*9/L", "10*9/L"),
        ("%", "%"),
        ("{ratio}", "{ratio}"),
    ],
)
def test_french_spellings_map_to_ucum(written: str, code: str) -> None:
    assert read_unit(written).code == code


def test_identifier_with_extension_uses_the_root_as_system() -> None:
    assert identifier(II("1.2.250.1.71.4.2.1", "810000000001")) == {
        "use": "official",
        "type": {
            "coding": [
                {
                    "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                    "code": "IDNPS",
                    "display": "Identifiant National de Professionnel de Santé",
                }
            ]
        },
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": "810000000001",
    }


def test_identifier_root_alone_is_a_uri() -> None:
    assert identifier(II("1.2.250.1.213.1.1.1.55.2024.14.1")) == {
        "system": "urn:ietf:rfc:3986",
        "value": "urn:oid:1.2.250.1.213.1.1.1.55.2024.14.1",
    }
    assert (
        identifier(II("770B0DC2-A6B8-468E-8432-632B18D35F68"))["value"]
        == "urn:uuid:770b0dc2-a6b8-468e-8432-632b18d35f68"
    )  # type: ignore[index]
    assert identifier(II(None, null_flavor="NI")) is None


def test_ins_names_give_an_official_and_a_usual_name() -> None:
    name = PersonName(
        (
            NamePart("family", "PAT-TROIS", "BR"),
            NamePart("given", "DOMINIQUE MARIE-LOUISE"),
            NamePart("given", "DOMINIQUE", "BR"),
            NamePart("family", "MARTIN", "CL"),
            NamePart("given", "DOMI", "CL"),
        )
    )
    assert human_names(name) == [
        {"use": "official", "family": "PAT-TROIS", "given": ["DOMINIQUE", "MARIE-LOUISE"]},
        {"use": "usual", "family": "MARTIN", "given": ["DOMI"]},
    ]


def test_a_plain_name_keeps_prefix_and_suffix() -> None:
    name = PersonName(
        (
            NamePart("prefix", "M"),
            NamePart("given", "Marcel"),
            NamePart("family", "CAMPARINI"),
            NamePart("suffix", "DR"),
        )
    )
    assert human_names(name) == [
        {"family": "CAMPARINI", "given": ["Marcel"], "prefix": ["M"], "suffix": ["DR"]}
    ]


@pytest.mark.parametrize(
    ("value", "use", "expected"),
    [
        ("tel:0144534551", "H", {"system": "phone", "value": "0144534551", "use": "home"}),
        ("tel:0647151010", "MC", {"system": "phone", "value": "0647151010", "use": "mobile"}),
        ("mailto:a@b.fr", None, {"system": "email", "value": "a@b.fr"}),
        ("fax:0100000000", "WP", {"system": "fax", "value": "0100000000", "use": "work"}),
        ("https://lab.example", None, {"system": "url", "value": "https://lab.example"}),
    ],
)
def test_telecom_schemes(value: str, use: str | None, expected: dict[str, str]) -> None:
    assert telecom(Telecom(value, use)) == expected
