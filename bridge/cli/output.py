"""Where converted documents go: a Bundle per file, or NDJSON (one file per type, Bulk Data style).

Files are written under a temporary name and renamed when complete: an
interrupted run never leaves a half-written Bundle behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

from bridge.cli.batch import DocumentResult

__all__ = ["BundleOutput", "NdjsonOutput", "write_atomically"]


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, target)


class BundleOutput:
    """One Bundle per document: to stdout, to one named file, or `<name>.json` in a directory."""

    def __init__(self, out: Path | None, single_file: bool) -> None:
        self.out = out
        self.single_file = single_file

    def write(self, result: DocumentResult, name: str) -> None:
        assert result.bundle is not None
        if self.out is None:
            sys.stdout.buffer.write(result.bundle + b"\n")
            sys.stdout.buffer.flush()
        elif self.single_file:
            write_atomically(self.out, result.bundle + b"\n")
        else:
            write_atomically(self.out / f"{name}.json", result.bundle + b"\n")

    def close(self, *, complete: bool = True) -> None:
        pass


class NdjsonOutput:
    """One resource per line: `<Type>.ndjson` files in a directory, or one stream."""

    def __init__(self, out: Path | None, directory: bool) -> None:
        self.out = out
        self.directory = directory
        self._files: dict[str, BinaryIO] = {}
        self._single: BinaryIO | None = None

    def _stream(self, resource_type: str) -> BinaryIO:
        if self.out is None:
            return sys.stdout.buffer
        if not self.directory:
            if self._single is None:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self._single = self.out.with_name(self.out.name + ".part").open("wb")
            return self._single
        handle = self._files.get(resource_type)
        if handle is None:
            self.out.mkdir(parents=True, exist_ok=True)
            handle = (self.out / f"{resource_type}.ndjson.part").open("wb")
            self._files[resource_type] = handle
        return handle

    def write(self, result: DocumentResult, name: str) -> None:
        for resource_type, line in result.resources:
            self._stream(resource_type).write(line + b"\n")

    def close(self, *, complete: bool = True) -> None:
        """Publish the files of a complete run; an interrupted run removes its partial files."""
        if self.out is None:
            sys.stdout.buffer.flush()
            return
        partials = []
        if self._single is not None:
            self._single.close()
            partials.append((self.out.with_name(self.out.name + ".part"), self.out))
        for resource_type, handle in self._files.items():
            handle.close()
            partials.append(
                (self.out / f"{resource_type}.ndjson.part", self.out / f"{resource_type}.ndjson")
            )
        for partial, final in partials:
            if complete:
                os.replace(partial, final)
            else:
                partial.unlink(missing_ok=True)
