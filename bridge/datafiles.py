"""Where the reviewed data tables of `mappings/` are, installed or in a checkout.

A wheel carries them as `bridge/_mappings`; a checkout (or an editable install)
reads the top-level `mappings/` folder directly.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

__all__ = ["mapping_path", "read_table"]

_PACKAGED = Path(__file__).resolve().parent / "_mappings"
_CHECKOUT = Path(__file__).resolve().parent.parent / "mappings"


def mapping_path(name: str) -> Path:
    """Path of a file of `mappings/`."""
    for folder in (_PACKAGED, _CHECKOUT):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"mapping table {name!r} not found in {_PACKAGED} or {_CHECKOUT}")


@cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a CSV table of `mappings/` (read once per process)."""
    with mapping_path(name).open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))
