"""Where converted documents go: standard output, one named file, or a directory.

Files are written under a temporary name and renamed when complete: an interrupted
run never leaves a half-written Bundle, NDJSON or issues file behind. (NDJSON lines
are chosen by `bridge.export.NdjsonWriter`.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar

from bridge.cli.batch import WORK_DIRECTORY, DocumentResult

__all__ = ["BundleOutput", "Target", "write_atomically", "write_to"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the output goes: standard output, one file, or a directory."""

    kind: Literal["stdout", "file", "directory"]
    path: Path | None = None

    @property
    def work_directory(self) -> Path | None:
        if self.path is None:
            return None
        if self.kind == "directory":
            return self.path / WORK_DIRECTORY
        return self.path.with_name(f".{self.path.name}{WORK_DIRECTORY}")


def write_to(target: Target, write: Callable[[BinaryIO], T]) -> T:
    """Call `write(stream)` on standard output, or on a file written whole then renamed."""
    if target.kind == "stdout":
        result = write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return result
    assert target.path is not None
    target.path.parent.mkdir(parents=True, exist_ok=True)
    partial = target.path.with_name(target.path.name + ".part")
    with partial.open("wb") as out:
        result = write(out)
    os.replace(partial, target.path)
    return result


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, target)


class BundleOutput:
    """One Bundle per document: to stdout, to one named file, or `<name>.json` in a directory."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def write(self, result: DocumentResult, name: str) -> None:
        assert result.bundle is not None
        data = result.bundle + b"\n"
        if self.target.path is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        elif self.target.kind == "file":
            write_atomically(self.target.path, data)
        else:
            write_atomically(self.target.path / f"{name}.json", data)
