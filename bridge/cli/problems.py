"""How the command line says something went wrong (click's conventions).

- Exit 2, a usage error: an argument, an option or a BRIDGE_* variable is wrong;
  click prints the usage line and the message. Nothing was done.
- Exit 1, a failure: the command ran and could not do (all of) its job: a document
  refused, a store or server unreachable, a file that is not what it should be.
- Messages go to standard error, name the file or value concerned, and say what to do.
  They are printed as text, never as rich markup (a file named `[x].xml` stays itself).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from bridge.settings import Settings

__all__ = ["err", "fail", "load_settings", "note", "usage"]

err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print `message` as an error; the caller raises the returned exit (status 1)."""
    err.print(f"[red]error[/red]: {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def note(message: str, label: str = "note", style: str = "yellow") -> None:
    err.print(f"[{style}]{label}[/{style}]: {escape(message)}", highlight=False, soft_wrap=True)


def usage(message: str, param_hint: str | None = None) -> typer.BadParameter:
    """A usage error (status 2) about an option, an argument or a BRIDGE_* variable."""
    return typer.BadParameter(message, param_hint=param_hint)


def load_settings() -> Settings:
    """The BRIDGE_* settings; a malformed variable is a usage error naming it."""
    try:
        return Settings.from_environment()
    except ValueError as exc:
        raise usage(f"configuration: {exc}") from exc
