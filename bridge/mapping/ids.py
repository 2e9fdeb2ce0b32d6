"""Stable resource ids: UUIDv5 of what identifies the thing.

Converting the same document twice gives the same ids, so a second ingestion is
a no-op. Things with a national identity (a patient's INS, a practitioner's
IDNPS, a structure's IDNST) get the same id in every document; everything else
is scoped by the document id and the element's position in it.
"""

from __future__ import annotations

import hashlib
import uuid

from bridge.caching import memoised

__all__ = ["NAMESPACE", "stable_id"]

# Fixed forever: changing it changes every id ever produced.
NAMESPACE = uuid.UUID("6b1f3c5e-2d0a-5c8e-9f41-0c6a3e1d2b7f")
_PREFIX = NAMESPACE.bytes


def stable_id(*parts: str) -> str:
    """UUIDv5 (RFC 4122) of the parts joined with "|".

    The same as `uuid.uuid5(NAMESPACE, "|".join(parts))`, without building a UUID
    object: ids are made for every resource of every document.

    >>> stable_id("Patient", "1.2.250.1.213.1.4.8", "279035121518989") == str(
    ...     uuid.uuid5(NAMESPACE, "Patient|1.2.250.1.213.1.4.8|279035121518989"))
    True
    """
    return _uuid5("|".join(parts))


@memoised(65536)  # ids are asked for again and again while a document is mapped
def _uuid5(name: str) -> str:
    digest = bytearray(hashlib.sha1(_PREFIX + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
