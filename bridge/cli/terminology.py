"""`crbio terminology …`: import the JDV, translate, look up, synchronise with the SMT.

The store is BRIDGE_DATABASE_URL's (bridge/cli/stores.py): `import-jdv` and `sync`
write to it (creating it, and saying where); `translate`, `lookup` and `versions`
only read it, and without one answer from the JDV seed rows in memory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bridge.cli.problems import err, fail, load_settings, note, usage
from bridge.cli.stores import missing_store, open_for_reading, open_for_writing
from bridge.errors import TerminologyError
from bridge.terminology.conceptmap import CONCEPTMAP_URL, LOINC, value_x
from bridge.terminology.jdv import read_spreadsheet
from bridge.terminology.operations import parse_lookup, parse_translate
from bridge.terminology.service import SEED_VERSION, TerminologyService, from_settings

__all__ = ["app"]

app = typer.Typer(
    help="The JDV Circuit de la biologie, the SMT, and terminology look-ups.", no_args_is_help=True
)
out = Console()


def _service(*, write: bool = False) -> TerminologyService:
    """The service on the configured store (SQLite file or PostgreSQL), as the server sees it."""
    from bridge.store import open_store

    settings = load_settings()
    store = open_for_writing(settings) if write else open_for_reading(settings)
    if store is None:
        note(
            f"{missing_store(settings)}: answering from the JDV seed rows (crbio terminology "
            "import-jdv imports the official JDV)"
        )
        store = open_store("sqlite://:memory:")
    return from_settings(settings, store)


def _fail(exc: TerminologyError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/red]: {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("import-jdv")
def import_jdv(
    workbook: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="The official JDV spreadsheet (.xlsx).",
            show_default=False,
        ),
    ],
    version: Annotated[str | None, typer.Option(help="Version label (default: file name).")] = None,
) -> None:
    """Import the JDV spreadsheet as a new ConceptMap version; earlier versions are kept."""
    try:  # read first: a file that is no JDV never opens (or creates) a store
        rows = read_spreadsheet(workbook)
    except TerminologyError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise fail(f"cannot read {workbook}: {exc.strerror or exc}") from exc
    report = _service(write=True).save_rows(rows, version or workbook.stem)
    out.print(
        f"JDV version [bold]{report.version}[/bold]: {report.rows} rows, "
        f"{report.analyses} analyses, {report.correspondences} correspondences"
    )
    for problem in report.problems:
        err.print(f"[yellow]note[/yellow] {problem}", highlight=False, soft_wrap=True)


@app.command()
def versions() -> None:
    """List the JDV versions in the store."""
    found = _service().versions()
    for version in found or [SEED_VERSION]:  # the seed rows answer until one is imported
        out.print(version)


@app.command()
def translate(
    code: Annotated[str, typer.Option(help="The code to translate, e.g. 40193-5.")],
    system: Annotated[str, typer.Option(help="Its code system.")] = LOINC,
    reverse: Annotated[bool, typer.Option(help="Find the codes that map to this one.")] = False,
    version: Annotated[str | None, typer.Option(help="JDV version (default: latest).")] = None,
) -> None:
    """Print every match: code, equivalence, conversion factor and comparability level."""
    pairs: list[tuple[str, Any]] = [("system", system), ("code", code)]
    if reverse:
        pairs.append(("reverse", "true"))
    if version:
        pairs += [("url", CONCEPTMAP_URL), ("conceptMapVersion", version)]
    try:
        answer = asyncio.run(_service().translate(parse_translate(pairs)))
    except TerminologyError as exc:
        raise _fail(exc) from exc
    matches = answer.matches
    if not matches:  # exit 1, as grep: the answer, with why, is on standard output
        why = next(
            (p.get("valueString") for p in answer.parameters.get("parameter", ())
             if p.get("name") == "message"),
            None,
        )  # fmt: skip
        said = f": {why}" if why else ""
        out.print(f"no match for {system}|{code} ({answer.origin}){said}", highlight=False)
        raise typer.Exit(1)
    table = Table(
        "code",
        "equivalence",
        "factor",
        "comparability",
        "units",
        "display",
        title=f"{system}|{code} ({answer.origin})",
        title_justify="left",
    )
    for match in matches:
        factor = match.property("factor")
        units = " → ".join(str(match.property(u) or "?") for u in ("source-unit", "target-unit"))
        table.add_row(
            match.code,
            match.equivalence,
            "" if factor is None else str(factor),
            str(match.property("comparability") or ""),
            units,
            match.display or "",
        )
    out.print(table)
    for match in matches:
        source = match.property("provenance") or match.source_url
        official = "" if match.property("official") is not False else " (factor NOT official)"
        out.print(f"{match.code}: {source}{official}", highlight=False, soft_wrap=True)


@app.command()
def lookup(
    code: Annotated[str, typer.Option(help="The code, e.g. 718-7.")],
    system: Annotated[str, typer.Option(help="Its code system.")] = LOINC,
) -> None:
    """French display and JDV properties of a code (the SMT for codes outside the JDV)."""
    try:
        answer = asyncio.run(_service().lookup(parse_lookup([("system", system), ("code", code)])))
    except TerminologyError as exc:
        raise _fail(exc) from exc
    for parameter in answer.parameters["parameter"]:
        value = value_x(parameter)
        if value is not None:
            out.print(f"{parameter['name']}: {value}", highlight=False)
        elif parameter["name"] == "property":
            parts = {p["name"]: p for p in parameter["part"]}
            shown = value_x(parts["value"])
            out.print(f"property {parts['code']['valueCode']}: {shown}", highlight=False)


@app.command()
def sync(
    value_set: Annotated[
        list[str] | None,
        typer.Option(
            "--value-set", help="Canonical URL of a value set (default: the converter's)."
        ),
    ] = None,
) -> None:
    """Pull the value sets the converter uses from the SMT ($expand, page by page)."""
    for url in value_set or ():
        if not url.startswith(("http://", "https://")):
            raise usage(f"{url!r} is not a canonical URL (https://…/ValueSet/…)", "--value-set")
    settings = load_settings()
    if settings.offline:
        raise fail(
            "BRIDGE_OFFLINE is set: nothing to synchronise from; unset it to reach the SMT at "
            f"{settings.smt_url}"
        )
    service = _service(write=True)
    try:
        counts = asyncio.run(service.sync(tuple(value_set)) if value_set else service.sync())
    except TerminologyError as exc:
        raise _fail(exc) from exc
    for url, count in counts.items():
        out.print(f"{url}: {count} concepts")
