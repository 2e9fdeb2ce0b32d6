"""A resource's JSON as it lies on disk: zstd-compressed, read back as plain JSON bytes.

FHIR JSON repeats itself (element names, system URLs, French displays), and one
resource is too small for a compressor to learn that from itself: with a dictionary
of what converted resources look like, zstd at level 1 stores them in about a
quarter of their bytes (2.6 times less without it), and a Binary's base64 in about
three quarters, for a few microseconds per resource each way.

`content-1.zdict` is dictionary 1, trained once with
`zstandard.train_dictionary(16384, samples, dict_id=1)` over the 198 resources other
than Binary of fhir_examples/*.json (commit 7cdeb0e). Stored rows need it for ever:
it never changes; a better one would be dictionary 2, added beside it. Each frame
names its dictionary. Rows written before compression (plain JSON) are read as they
are: JSON starts with "{", a zstd frame with its magic number.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import zstandard

__all__ = ["pack", "unpack"]

_MAGIC = b"\x28\xb5\x2f\xfd"  # the first bytes of every zstd frame
_LEVEL = 1
_DICTIONARY = 1  # the one new rows are written with
_local = threading.local()  # zstd contexts are not to be shared between threads


@cache
def _dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    data = (Path(__file__).parent / f"content-{dict_id}.zdict").read_bytes()
    return zstandard.ZstdCompressionDict(data)


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(
            level=_LEVEL, dict_data=_dictionary(_DICTIONARY)
        )
    return compressor


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    decompressors = getattr(_local, "decompressors", None)
    if decompressors is None:
        decompressors = _local.decompressors = {}
    decompressor = decompressors.get(dict_id)
    if decompressor is None:
        decompressor = decompressors[dict_id] = zstandard.ZstdDecompressor(
            dict_data=_dictionary(dict_id) if dict_id else None
        )
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
    if data[:4] != _MAGIC:
        return data
    dict_id = zstandard.get_frame_parameters(data).dict_id
    return _decompressor(dict_id).decompress(data)  # type: ignore[no-any-return]
