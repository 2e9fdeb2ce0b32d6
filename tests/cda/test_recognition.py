"""Document recognition with missing or blank attributes: a refusal that says what was
found (`UnsupportedDocumentError`), or a conversion; never a `TypeError`."""

from __future__ import annotations

import pytest

from bridge.errors import UnsupportedDocumentError
from bridge.mapping import convert
from tests.builders import document, result

CR_BIO = b'<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>'
CI_SIS = b'<templateId root="1.2.250.1.213.1.1.1.1"/>'
XD_LAB = b'<templateId root="1.3.6.1.4.1.19376.1.3.3"/>'


def header_variant(*replacements: tuple[bytes, bytes]) -> bytes:
    data = document(result())
    for old, new in replacements:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    return data


NO_CR_BIO = ((CR_BIO, b""), (CI_SIS, b""))


@pytest.mark.parametrize(
    ("replacement", "named"),
    [
        ((CR_BIO, b'<templateId extension="2024.01"/>'), "1 templateId without root"),
        ((CR_BIO, b'<templateId root="" extension="2024.01"/>'), "1 templateId without root"),
        ((CR_BIO, b'<templateId root=" \xc2\xa0\xe2\x80\x8b"/>'), "1 templateId without root"),
        ((CR_BIO, b"<templateId/><templateId/>"), "2 templateId without root"),
        ((CR_BIO, b'<templateId root="1.2.3.4"/><templateId/>'), "1.2.3.4"),
    ],
    ids=["no-root", "empty-root", "blank-root", "two-without-root", "other-root"],
)
def test_header_template_ids_without_root_are_unsupported(
    replacement: tuple[bytes, bytes], named: str
) -> None:
    data = header_variant(replacement, (CI_SIS, b""))
    with pytest.raises(UnsupportedDocumentError) as refused:
        convert(data)
    message = str(refused.value)
    assert named in message
    assert "2.16.840.1.113883.2.8.2.1" in message  # the templateIds found are listed
    assert "1.2.250.1.213.1.1.1.55" in message  # and the one expected is named


def test_only_rootless_template_ids_say_so() -> None:
    data = document(result())
    start, end = data.index(b"<templateId"), data.index(b"<id root")
    data = data[:start] + b"<templateId/>" + data[end:]
    with pytest.raises(UnsupportedDocumentError, match="found: 1 templateId without root"):
        convert(data)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b' codeSystem="2.16.840.1.113883.6.1" displayName="CR', b' displayName="CR'),
        (b'<code code="11502-2"', b'<code code=" "'),
        (b'<code code="11502-2"', b"<code"),
    ],
    ids=["no-code-system", "blank-code", "no-code"],
)
def test_document_code_missing_attributes_is_unsupported(old: bytes, new: bytes) -> None:
    with pytest.raises(UnsupportedDocumentError, match="document code is"):
        convert(header_variant((old, new)))


def test_blank_around_the_cr_bio_template_id_is_still_cr_bio() -> None:
    data = header_variant(
        (CR_BIO, b'<templateId root=" 1.2.250.1.213.1.1.1.55\xc2\xa0" extension="2024.01 "/>')
    )
    kind = convert(data).kind
    assert (kind.family, kind.version) == ("CR-BIO", "2024.01")


def test_a_rootless_template_id_beside_the_cr_bio_one_is_ignored() -> None:
    data = header_variant((CR_BIO, CR_BIO + b"<templateId/>"))
    kind = convert(data).kind
    assert (kind.family, kind.version) == ("CR-BIO", "2024.01")
