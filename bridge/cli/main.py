"""The `crbio` command line. Commands stay thin: they call the library and report.

Exit codes everywhere (click's conventions, bridge/cli/problems.py): 0 done, 1 the
command failed (a document refused, a store or server unreachable…), 2 usage error.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from bridge import __version__
from bridge.cli.convert import convert
from bridge.cli.forward import app as forward_app
from bridge.cli.load import load
from bridge.cli.problems import err
from bridge.cli.serve import hash_key, serve
from bridge.cli.spark import spark_convert
from bridge.cli.terminology import app as terminology_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="crbio",
    help="crbio-bridge: French CR-BIO lab reports (HL7 CDA R2) as FHIR R4.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(terminology_app, name="terminology")
app.command()(convert)
app.add_typer(forward_app, name="forward")
app.command()(serve)
app.command()(load)
app.command("hash-key")(hash_key)
app.command("spark-convert")(spark_convert)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crbio-bridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """crbio-bridge command line."""


def main() -> None:
    """The console script: a broken pipe ends quietly, a bug in one line (BRIDGE_DEBUG=1
    for the traceback), never a traceback for what the user did."""
    try:
        app(standalone_mode=True)
    except BrokenPipeError:  # `crbio convert … | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("BRIDGE_DEBUG"):
            traceback.print_exc()
        err.print(
            f"[red]internal error[/red] (please report it, with BRIDGE_DEBUG=1 for the "
            f"details): {type(exc).__name__}: {exc}",
            highlight=False,
            soft_wrap=True,
            markup=True,
        )
        sys.exit(1)
