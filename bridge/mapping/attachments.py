"""Base64 content from CDA (ED B64) → FHIR Attachment, checked against its media type."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bridge.cda.datatypes import ED
from bridge.mapping.context import MappingContext

__all__ = ["attachment"]

# What the first bytes of a file of each type must be (file signatures)
_SIGNATURES = {
    "application/pdf": (b"%PDF",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def _without_whitespace(text: str) -> str:
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

    Only the first bytes are decoded, to check that the content starts as its media
    type says (a PDF with %PDF…); a mismatch is reported and the content kept.
    Decoding megabytes of PDF for every report would cost more than converting it.
    """
    if not content.text or content.representation != "B64":
        ctx.issues.add(
            "media-invalid",
            content.node,
            "attached content is not base64 (representation B64); left out",
        )
        return None
    data = _without_whitespace(content.text)
    padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
    try:
        head = base64.b64decode(data[:64], validate=True)
    except (binascii.Error, ValueError):
        head = b""
    if len(data) % 4 or not head:
        ctx.issues.add(
            "media-invalid", content.node, "attached content is not valid base64; left out"
        )
        return None
    media_type = content.media_type or "application/octet-stream"
    signatures = _SIGNATURES.get(media_type)
    if signatures and not head.startswith(signatures):
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
    out["size"] = len(data) // 4 * 3 - padding
    if title:
        out["title"] = title
    if creation:
        out["creation"] = creation
    return out
