"""Base64 content from CDA (ED B64) → FHIR Attachment, checked against its media type."""

from __future__ import annotations

from typing import Any

import pybase64

from bridge.cda.datatypes import ED
from bridge.mapping.context import MappingContext

__all__ = ["attachment", "without_whitespace"]

# What the first bytes of a file of each type must be (file signatures)
_SIGNATURES = {
    "application/pdf": (b"%PDF",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def without_whitespace(text: str) -> str:
    # str.replace runs at memchr speed; "".join(text.split()) costs ten times more on a
    # PDF of a few hundred kilobytes cut into 76-character lines
    for space in ("\n", "\r", " ", "\t"):
        if space in text:
            text = text.replace(space, "")
    return text


def attachment(
    content: ED,
    ctx: MappingContext,
    *,
    title: str | None = None,
    language: str | None = None,
    creation: str | None = None,
) -> dict[str, Any] | None:
    """An Attachment with content type, base64 data (whitespace removed) and size.

    The content is decoded whole: invalid base64 anywhere is reported and left out, the
    size is exact, and the content must start as its media type says (a PDF with
    %PDF…); a mismatch of type is reported and the content kept.
    """
    if not content.text or content.representation != "B64":
        ctx.issues.add(
            "media-invalid",
            content.node,
            "attached content is not base64 (representation B64); left out",
        )
        return None
    data = without_whitespace(content.text)
    try:
        # every byte checked, at SIMD speed (a tenth of the whitespace removal above)
        decoded = pybase64.b64decode(data, validate=True)
    except ValueError:  # binascii.Error, or characters outside ASCII
        decoded = b""
    if not decoded:
        ctx.issues.add(
            "media-invalid", content.node, "attached content is not valid base64; left out"
        )
        return None
    media_type = content.media_type or "application/octet-stream"
    signatures = _SIGNATURES.get(media_type)
    if signatures and not decoded.startswith(signatures):
        ctx.issues.add(
            "media-invalid",
            content.node,
            f"content declared {media_type} does not start like one",
            input=media_type,
        )
    out: dict[str, Any] = {"contentType": media_type}
    if language:
        out["language"] = language
    out["data"] = data
    out["size"] = len(decoded)
    if title:
        out["title"] = title
    if creation:
        out["creation"] = creation
    return out
