"""The shape of the package: layers import only to their left, one mapper per template."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bridge
from bridge.cda import model
from bridge.mapping.registry import MAPPERS

PACKAGE = Path(bridge.__file__).parent
# Each layer may import the layers listed before it (DEVELOPERS.md). The services beside
# the store (result series, forwarding, export, Spark) share a tier, and so do the edges
# (the FHIR API, the clinician's pages, the command line).
TIERS = [
    ["cda"],
    ["mapping"],
    ["terminology"],
    ["store"],
    ["results", "forwarding", "export", "spark"],
    ["api", "pages", "cli"],
]
LAYERS = [layer for tier in TIERS for layer in tier]
# Imports allowed inside a tier: Spark writes what the bulk export writes; the edges may
# start one another (the CLI serves the API, the API mounts the pages).
SIBLINGS = {
    "spark": {"export"},
    "api": {"pages"},
    "pages": {"api"},
    "cli": {"api", "pages"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_to_their_left(layer: str) -> None:
    folder = PACKAGE / layer
    if not folder.is_dir():
        pytest.skip(f"bridge.{layer} does not exist yet")
    tier = next(i for i, names in enumerate(TIERS) if layer in names)
    later = {name for names in TIERS[tier:] for name in names} - {layer}
    forbidden = later - SIBLINGS.get(layer, set())
    for path in folder.rglob("*.py"):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "bridge" and len(parts) > 1:
                assert parts[1] not in forbidden, f"{path.relative_to(PACKAGE)} imports {module}"


def test_fhir_routers_never_import_pages() -> None:
    for path in (PACKAGE / "api" / "routers").rglob("*.py"):
        for module in imported_modules(path):
            assert not module.startswith("bridge.pages"), f"{path.name} imports {module}"


def test_every_body_entry_class_has_exactly_one_mapper() -> None:
    entry_classes = set(model.BodyEntry.__args__)  # type: ignore[attr-defined]
    assert entry_classes == set(MAPPERS)


@pytest.mark.parametrize(
    "module_name",
    [
        "bridge.cda",
        "bridge.mapping",
        "bridge.errors",
        "bridge.terminology",
        "bridge.store",
        "bridge.results",
        "bridge.export",
        "bridge.forwarding",
        "bridge.spark",
        "bridge.api",
        "bridge.pages",
    ],
)
def test_public_names_resolve_and_are_sorted(module_name: str) -> None:
    module = __import__(module_name, fromlist=["__all__"])
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_mapping_is_pure() -> None:
    """The mapping layer does no I/O: no file, socket, subprocess or clock access."""
    forbidden = {"socket", "subprocess", "httpx", "requests", "urllib", "sqlite3", "shutil"}
    for path in (PACKAGE / "mapping").rglob("*.py"):
        assert not imported_modules(path) & forbidden, path.name
        text = path.read_text(encoding="utf-8")
        assert "open(" not in text, f"{path.name} opens files"
