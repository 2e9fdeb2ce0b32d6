"""A resource's JSON as it lies on disk: zstd-compressed, read back as plain JSON bytes.

FHIR JSON repeats itself (element names, system URLs, displays): zstd at level 1
stores a converted document's resources in about 40% of their bytes, and a Binary's
base64 in about 75% (its 6 bits per character), for a few microseconds per resource
each way. Rows written before compression (plain JSON) are read as they are: JSON
starts with "{", a zstd frame with its magic number, so the two never mix up. A
resource that would not shrink is stored as plain JSON.
"""

from __future__ import annotations

import threading

import zstandard

__all__ = ["pack", "unpack"]

_MAGIC = b"\x28\xb5\x2f\xfd"  # the first bytes of every zstd frame
_LEVEL = 1
_local = threading.local()  # zstd contexts are not to be shared between threads


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def pack(content: bytes) -> bytes:
    """The bytes to store for a resource's JSON."""
    packed = _compressor().compress(content)
    return packed if len(packed) < len(content) else content


def unpack(stored: bytes | memoryview | None) -> bytes:
    """A resource's JSON from what `pack` stored (or plain JSON stored before it)."""
    if stored is None:
        return b""
    data = bytes(stored)
    return _decompressor().decompress(data) if data[:4] == _MAGIC else data
