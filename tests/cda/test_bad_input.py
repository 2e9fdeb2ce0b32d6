"""Bad input and what it gets (brief §10), through the public API `bridge.mapping.convert`.

Three answers: refused as a whole (a `DocumentError` subclass, nothing produced),
accepted with a warning naming the element (the rest converted), or accepted as is.
Variants are built from the project's example documents by a checked text replacement.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.cda import DEFAULT_MAX_BYTES
from bridge.errors import (
    DocumentError,
    DocumentTooLargeError,
    MalformedXmlError,
    NotCdaError,
    UnsafeXmlError,
    UnsupportedDocumentError,
)
from bridge.mapping import Conversion, Issue, convert, dumps
from tests.helpers import EXAMPLES, resources_of

GLUCOSE = "glucose-two-units.xml"  # CR-BIO 2024.01: 40193-5 in mmol/L, 53049-3 in g/L, PDF copy
HAEMOGRAM = "haemogram-battery.xml"  # a battery; 718-7 has two reference ranges
LATIN1 = "latin1-declared.xml"  # declares encoding="ISO-8859-1"

# The second glucose result (53049-3, 0.95 g/L) sits here in glucose-two-units.xml.
SECOND_GLUCOSE = (
    "/ClinicalDocument/component/structuredBody/component[1]/section/entry/act"
    "/entryRelationship[2]/observation"
)
FIRST_GLUCOSE = SECOND_GLUCOSE.replace("entryRelationship[2]", "entryRelationship[1]")


# Helpers ------------------------------------------------------------------------


def example_text(name: str) -> str:
    """An example document as text (decoded with the encoding its declaration names)."""
    data = (EXAMPLES / name).read_bytes()
    encoding = "iso-8859-1" if b'encoding="ISO-8859-1"' in data[:100] else "utf-8"
    return data.decode(encoding)


def variant(name: str, old: str, new: str) -> bytes:
    """The example with `old` (which must occur exactly once) replaced by `new`, as UTF-8."""
    text = example_text(name)
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    return text.replace(old, new).encode("utf-8")


def without(name: str, start: str, end: str) -> bytes:
    """The example with the text from `start` (included) up to `end` (excluded) removed."""
    text = example_text(name)
    assert text.count(start) == 1 and end in text
    first = text.index(start)
    return (text[:first] + text[text.index(end, first) :]).encode("utf-8")


def observations(conversion: Conversion) -> dict[str, dict[str, Any]]:
    """The Observations by their first code (LOINC)."""
    return {
        o["code"]["coding"][0]["code"]: o for o in resources_of(conversion.bundle, "Observation")
    }


def issues_with(conversion: Conversion, code: str) -> list[Issue]:
    return [issue for issue in conversion.issues if issue.code == code]


def one_issue(conversion: Conversion, code: str, location: str) -> Issue:
    """The single issue with `code`; its XPath-like location must be `location`."""
    found = issues_with(conversion, code)
    assert len(found) == 1, f"expected one {code} issue, got {conversion.issues}"
    assert found[0].location == location
    assert found[0].message
    return found[0]


def refusal(data: bytes, expected: type[DocumentError], **kwargs: Any) -> DocumentError:
    with pytest.raises(expected) as caught:
        convert(data, **kwargs)
    assert isinstance(caught.value, DocumentError)
    return caught.value


def all_text(exc: BaseException) -> str:
    """Everything an exception could show: its text, args, and the chained exceptions."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.fixture
def listening_port() -> Iterator[tuple[int, socket.socket]]:
    """A local TCP port that accepts connections, to prove nobody connected to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    try:
        yield server.getsockname()[1], server
    finally:
        server.close()


def assert_nobody_connected(server: socket.socket) -> None:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return
    connection.close()
    pytest.fail("the parser opened a network connection")


# Not well-formed XML ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        # the unquoted attribute value starts at line 3, column 11
        (b'<?xml version="1.0"?>\n<a>\n  <b attr=unquoted/>\n</a>', 3, 11),
        # the second root element starts at line 1, column 5
        (b"<a/><b/>", 1, 5),
        # the second "<" of "<<b/>" is at line 3, column 5
        (b"<a>\n\n   <<b/></a>", 3, 5),
    ],
    ids=["unquoted-attribute", "second-root", "bad-start-tag"],
)
def test_malformed_xml_says_line_and_column(data: bytes, line: int, column: int) -> None:
    error = refusal(data, MalformedXmlError)
    assert (error.line, error.column) == (line, column)
    assert f"line {line}" in str(error) and f"column {column}" in str(error)
    assert error.code == "malformed-xml"


def test_empty_input_is_malformed() -> None:
    error = refusal(b"", MalformedXmlError)
    assert error.line == 1
    assert "line" in str(error) and "column" in str(error)


def test_truncated_document_is_malformed_at_its_end() -> None:
    data = (EXAMPLES / GLUCOSE).read_bytes()
    truncated = data[: len(data) // 2]
    error = refusal(truncated, MalformedXmlError)
    assert error.line == truncated.count(b"\n") + 1  # the last line given
    assert error.column is not None and error.column > 0
    assert "line" in str(error) and "column" in str(error)


# DOCTYPE: entities and external reads ------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>
"""


def test_billion_laughs_is_refused_fast_without_expansion() -> None:
    started = time.perf_counter()
    error = refusal(BILLION_LAUGHS, UnsafeXmlError)
    assert time.perf_counter() - started < 1.0  # 10⁹ "lol" were never built
    assert "lollol" not in all_text(error)
    assert error.code == "unsafe-xml"


def test_external_entity_never_reads_the_file(tmp_path: Path) -> None:
    marker = "SECRET-MARKER-7f3a91"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    data = f"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>
""".encode()
    assert secret.as_uri().startswith("file:///")
    error = refusal(data, UnsafeXmlError)
    assert marker not in all_text(error)
    assert marker not in str(vars(error))


def test_external_dtd_is_refused_without_network(
    listening_port: tuple[int, socket.socket],
) -> None:
    port, server = listening_port
    for url in ("http://127.0.0.1:9/x.dtd", f"http://127.0.0.1:{port}/x.dtd"):
        data = f"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument SYSTEM "{url}">
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>x</title></ClinicalDocument>
""".encode()
        refusal(data, UnsafeXmlError)
    assert_nobody_connected(server)


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
def test_plain_doctype_on_a_valid_report_is_refused(encoding: str) -> None:
    text = example_text(GLUCOSE)
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    assert text.startswith(declaration)
    body = text[len(declaration) :]
    own = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    convert((own + body).encode(encoding))  # the report itself is accepted
    error = refusal((own + "<!DOCTYPE ClinicalDocument>\n" + body).encode(encoding), UnsafeXmlError)
    assert "DOCTYPE" in str(error)
    assert error.code == "unsafe-xml"


# Not CR-BIO / BIO-TROD, not CDA ---------------------------------------------------------

US_CCDA = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="US"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
  <id root="2.16.840.1.113883.19.5" extension="4711"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="Laboratory report"/>
  <title>Laboratory report</title>
  <effectiveTime value="20250101120000-0500"/>
  <component><structuredBody><component><section>
    <title>Results</title><text>Glucose 95 mg/dL</text>
  </section></component></structuredBody></component>
</ClinicalDocument>
"""


def test_other_loinc_document_code_is_unsupported() -> None:
    data = variant(
        GLUCOSE,
        'code="11502-2" displayName="CR d\'examens biologiques"',
        'code="11488-4" displayName="Consultation note"',
    )
    error = refusal(data, UnsupportedDocumentError)
    assert "11488-4" in str(error)
    assert error.code == "unsupported-document"


def test_us_ccda_is_unsupported_and_its_template_named() -> None:
    error = refusal(US_CCDA, UnsupportedDocumentError)
    assert "2.16.840.1.113883.10.20.22.1.1" in str(error)
    assert "11502-2" in str(error)


def test_cda_without_body_is_unsupported() -> None:
    data = without(GLUCOSE, "  <component>\n    <structuredBody>", "</ClinicalDocument>")
    assert b"structuredBody" not in data and b"nonXMLBody" not in data
    error = refusal(data, UnsupportedDocumentError)
    assert "structuredBody" in str(error) and "nonXMLBody" in str(error)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (
            b'<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/></Bundle>',
            ["Bundle", "http://hl7.org/fhir"],
        ),
        (b"<html/>", ["html"]),
        (
            b"<ClinicalDocument><title>no namespace</title></ClinicalDocument>",
            ["ClinicalDocument", "urn:hl7-org:v3"],
        ),
    ],
    ids=["fhir-bundle", "html", "no-v3-namespace"],
)
def test_xml_that_is_not_cda(data: bytes, named: list[str]) -> None:
    error = refusal(data, NotCdaError)
    for word in named:
        assert word in str(error)
    assert error.code == "not-cda"


# Size --------------------------------------------------------------------------------


def test_document_over_the_limit_is_refused() -> None:
    data = (EXAMPLES / GLUCOSE).read_bytes()
    convert(data, max_bytes=len(data))  # exactly at the limit: accepted
    error = refusal(data, DocumentTooLargeError, max_bytes=len(data) - 1)
    assert (error.size, error.limit) == (len(data), len(data) - 1)
    assert str(len(data)) in str(error) and str(len(data) - 1) in str(error)


def test_size_is_checked_before_parsing() -> None:
    # not even XML: the size alone refuses it
    refusal(b"x" * 1000, DocumentTooLargeError, max_bytes=100)


def test_default_limit_is_50_mb() -> None:
    assert DEFAULT_MAX_BYTES == 50 * 1024 * 1024


# Accepted with a warning, the rest converted ------------------------------------------


def test_decimal_comma_is_read_as_a_decimal_point() -> None:
    conversion = convert(variant(GLUCOSE, 'value="0.95" unit="g/L"', 'value="0,95" unit="g/L"'))
    issue = one_issue(conversion, "decimal-comma", SECOND_GLUCOSE + "/value/@value")
    assert issue.input == "0,95"
    obs = observations(conversion)
    quantity = obs["53049-3"]["valueQuantity"]
    assert quantity["value"] == Decimal("0.95")  # never 95, never 0
    assert quantity["code"] == "g/L"
    assert json.loads(dumps(obs["53049-3"]), parse_float=Decimal)["valueQuantity"][
        "value"
    ] == Decimal("0.95")
    assert obs["40193-5"]["valueQuantity"]["value"] == Decimal("5.30")  # the rest converted


def test_unknown_xsi_type_is_a_warning() -> None:
    conversion = convert(
        variant(
            GLUCOSE,
            '<value xsi:type="PQ" value="5.30" unit="mmol/L"/>',
            '<value xsi:type="XYZ" value="5.30" unit="mmol/L"/>',
        )
    )
    issue = one_issue(conversion, "unknown-value-type", FIRST_GLUCOSE + "/value")
    assert issue.input == "XYZ"
    obs = observations(conversion)
    assert "valueQuantity" not in obs["40193-5"]  # never read as if it were a PQ
    assert obs["40193-5"]["valueString"] == "5.30 mmol/L"  # shown with its unit, as text
    assert obs["53049-3"]["valueQuantity"]["value"] == Decimal("0.95")
    assert len(resources_of(conversion.bundle, "DiagnosticReport")) == 1


def test_unit_that_is_not_ucum_is_kept_as_text_only() -> None:
    conversion = convert(
        variant(GLUCOSE, 'value="0.95" unit="g/L"', 'value="0.95" unit="unités/L"')
    )
    issue = one_issue(conversion, "unit-not-ucum", SECOND_GLUCOSE + "/value/@unit")
    assert issue.input == "unités/L"
    obs = observations(conversion)
    assert obs["53049-3"]["valueQuantity"] == {"value": Decimal("0.95"), "unit": "unités/L"}
    assert obs["40193-5"]["valueQuantity"]["system"] == "http://unitsofmeasure.org"


def test_french_giga_per_litre_is_never_gauss() -> None:
    conversion = convert(variant(HAEMOGRAM, 'value="7.2" unit="10*9/L"', 'value="7.2" unit="G/L"'))
    [issue] = issues_with(conversion, "unit-alias")
    assert issue.location.endswith("/organizer/component[1]/observation/value/@unit")
    assert issue.input == "G/L"
    quantity = observations(conversion)["6690-2"]["valueQuantity"]
    assert quantity == {
        "value": Decimal("7.2"),
        "unit": "G/L",
        "system": "http://unitsofmeasure.org",
        "code": "10*9/L",
    }
    assert len(observations(conversion)) > 1  # the other results of the battery are there


@pytest.mark.parametrize(
    ("old", "new", "code", "system"),
    [
        (
            'code="N" displayName="Normal" codeSystem="2.16.840.1.113883.5.83"',
            'code="NORMAL" displayName="Normal (labo)" codeSystem="2.16.840.1.113883.5.83"',
            "NORMAL",
            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        ),
        (
            'code="N" displayName="Normal" codeSystem="2.16.840.1.113883.5.83"',
            'code="N" displayName="Normal" codeSystem="1.2.250.1.999.1"',
            "N",
            "urn:oid:1.2.250.1.999.1",
        ),
    ],
    ids=["unknown-v3-code", "local-code-system"],
)
def test_interpretation_outside_value_set_is_kept(
    old: str, new: str, code: str, system: str
) -> None:
    # only the result's interpretation, not its reference range's
    anchor = (
        '<value xsi:type="PQ" value="0.95" unit="g/L"/>\n                  <interpretationCode '
    )
    conversion = convert(variant(GLUCOSE, anchor + old, anchor + new))
    issue = one_issue(
        conversion, "interpretation-outside-value-set", SECOND_GLUCOSE + "/interpretationCode"
    )
    assert issue.input == code
    obs = observations(conversion)
    [kept] = obs["53049-3"]["interpretation"][0]["coding"]
    assert (kept["system"], kept["code"]) == (system, code)
    assert obs["53049-3"]["valueQuantity"]["value"] == Decimal("0.95")
    assert obs["40193-5"]["interpretation"][0]["coding"][0]["code"] == "N"


def test_result_code_without_display_is_a_warning() -> None:
    conversion = convert(
        variant(
            GLUCOSE,
            '<code code="53049-3" displayName="Glucose à jeun [Masse/Volume] Sérum/Plasma ; '
            'Numérique" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC">\n'
            '                    <originalText><reference value="#glu-gl"/></originalText>\n'
            "                  </code>",
            '<code code="53049-3" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>',
        )
    )
    issue = one_issue(conversion, "display-missing", SECOND_GLUCOSE + "/code")
    assert issue.input == "53049-3"
    obs = observations(conversion)
    # the document names the analysis nowhere: the JDV's French label does
    assert obs["53049-3"]["code"] == {
        "coding": [{"system": "http://loinc.org", "code": "53049-3"}],
        "text": "Glucose à jeun [Masse/Volume] Sérum/Plasma ; Numérique",
    }
    assert obs["53049-3"]["valueQuantity"]["value"] == Decimal("0.95")
    assert "display" in obs["40193-5"]["code"]["coding"][0]


# Accepted without refusal ----------------------------------------------------------------


def test_two_reference_ranges_are_both_kept() -> None:
    conversion = convert((EXAMPLES / HAEMOGRAM).read_bytes())
    ranges = observations(conversion)["718-7"]["referenceRange"]
    assert [(r["low"]["value"], r["high"]["value"]) for r in ranges] == [
        (Decimal("120"), Decimal("165")),
        (Decimal("105"), Decimal("150")),
    ]
    assert ranges[1]["text"] == "Grossesse (2e et 3e trimestres)"
    assert not [i for i in conversion.issues if i.severity == "warning"]


def test_missing_narrative_target_is_ignored() -> None:
    conversion = convert(
        variant(GLUCOSE, '<reference value="#glu-gl"/>', '<reference value="#absent-id"/>')
    )
    obs = observations(conversion)
    # the text comes from the displayName instead (Observation.code.text rule)
    label = "Glucose à jeun [Masse/Volume] Sérum/Plasma ; Numérique"
    assert obs["53049-3"]["code"]["text"] == label
    assert obs["53049-3"]["code"]["coding"][0]["code"] == "53049-3"
    assert obs["40193-5"]["code"]["text"] == "Glycémie à jeun (mmol/L)"
    [issue] = issues_with(conversion, "narrative-reference-missing")
    assert issue.location == SECOND_GLUCOSE + "/code"
    assert issue.severity == "information"


def test_missing_pdf_copy_is_accepted() -> None:
    data = without(
        GLUCOSE,
        "      <component>\n        <!-- FR-Document-PDF-copie -->",
        "    </structuredBody>",
    )
    assert b"55108-5" not in data
    conversion = convert(data)
    [report] = resources_of(conversion.bundle, "DiagnosticReport")
    assert "presentedForm" not in report
    assert len(report["result"]) == 2
    assert [b["contentType"] for b in resources_of(conversion.bundle, "Binary")] == ["text/xml"]
    assert not conversion.issues


def test_pdf_copy_with_a_character_outside_base64_is_left_out() -> None:
    """Invalid base64 past the first line is caught too: the whole content is decoded."""
    line = "ZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAg"
    conversion = convert(variant(GLUCOSE, line, line[:20] + "!" + line[21:]))
    [report] = resources_of(conversion.bundle, "DiagnosticReport")
    assert "presentedForm" not in report
    assert len(report["result"]) == 2  # the structured results are kept
    [issue] = issues_with(conversion, "media-invalid")
    assert issue.message == "attached content is not valid base64; left out"


def _comparable(conversion: Conversion) -> list[bytes]:
    """The Bundle, minus what legitimately depends on the source bytes (its Binary, size, hash)."""
    out = []
    for entry in conversion.bundle["entry"]:
        resource = dict(entry["resource"])
        if resource["resourceType"] == "Binary" and resource["contentType"] == "text/xml":
            resource.pop("data")
        if resource["resourceType"] == "DocumentReference":
            resource["content"] = [
                {
                    **c,
                    "attachment": {
                        k: v for k, v in c["attachment"].items() if k not in ("size", "hash")
                    },
                }
                for c in resource["content"]
            ]
        out.append(dumps({**entry, "resource": resource}))
    return out


def test_declared_latin1_and_utf16_give_the_same_bundle_as_utf8() -> None:
    latin1 = (EXAMPLES / LATIN1).read_bytes()
    text = latin1.decode("iso-8859-1")
    declaration = '<?xml version="1.0" encoding="ISO-8859-1"?>'
    assert text.startswith(declaration)
    assert "é" in text  # a byte that differs between the encodings
    encodings = {
        "iso-8859-1": latin1,
        "utf-8": text.replace(declaration, '<?xml version="1.0" encoding="UTF-8"?>', 1).encode(
            "utf-8"
        ),
        "utf-16": text.replace(declaration, '<?xml version="1.0" encoding="UTF-16"?>', 1).encode(
            "utf-16"
        ),
    }
    assert encodings["utf-16"][:2] in (b"\xff\xfe", b"\xfe\xff")  # with its BOM
    conversions = {name: convert(data) for name, data in encodings.items()}
    reference = _comparable(conversions["utf-8"])
    for name, conversion in conversions.items():
        assert _comparable(conversion) == reference, name
        assert not conversion.issues
        [source] = [
            b for b in resources_of(conversion.bundle, "Binary") if b["contentType"] == "text/xml"
        ]
        assert base64.b64decode(source["data"]) == encodings[name]  # the source, byte for byte
    assert "Hélène FRÉMONT" in dumps(conversions["utf-8"].bundle).decode()  # no mojibake
