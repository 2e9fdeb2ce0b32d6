"""Mapping layer: a read CR-BIO document → FHIR R4 resources, purely (no I/O)."""

from __future__ import annotations

from bridge.mapping.convert import Conversion as Conversion
from bridge.mapping.convert import convert as convert
from bridge.mapping.convert import dumps as dumps
from bridge.mapping.issues import Issue as Issue
from bridge.mapping.issues import Issues as Issues

__all__ = ["Conversion", "Issue", "Issues", "convert", "dumps"]
