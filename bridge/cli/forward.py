"""`crbio forward`: run the delivery worker, see the outbox, send rows again.

Exit statuses as everywhere (bridge/cli/problems.py): 2 when the configuration cannot
work (no destination, a forwarding file that cannot be used), 1 when the store is
missing or some row named to `retry` could not be made due.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bridge.cli.problems import fail, load_settings, note, usage
from bridge.cli.stores import missing_store, open_for_reading
from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.forwarding import ForwardingConfig, Outbox
    from bridge.store import Store

__all__ = ["app", "forwarding_config"]

app = typer.Typer(
    help="Forwarding of ingested reports to downstream FHIR servers (the outbox).",
    no_args_is_help=True,
)
out = Console()


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(help="Serve /healthz and /metrics on this port (for orchestrators)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface of --port.")] = "127.0.0.1",
) -> None:
    """Deliver the outbox of BRIDGE_DATABASE_URL until stopped (SIGTERM, Ctrl-C)."""
    from prometheus_client import CollectorRegistry

    from bridge.api.observability import JsonFormatter
    from bridge.forwarding import Forwarding, Worker
    from bridge.forwarding.probe import start_probe

    settings = load_settings()
    config = forwarding_config(settings)
    if not config.destinations:
        raise usage(
            "nothing to forward to: set BRIDGE_FORWARD_TO (FHIR bases) or "
            "BRIDGE_FORWARD_CONFIG (a TOML file of destinations)"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    with _store(settings) as store:
        registry = CollectorRegistry()
        forwarding = Forwarding(store, config, registry)
        worker = Worker(store, config, metrics=forwarding.metrics)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            probe = await start_probe(worker, registry, host, port) if port else None
            try:
                await worker.run(until_idle=once)
            finally:
                if probe is not None:
                    await probe.cleanup()

        note(", ".join(d.name for d in config.destinations), "forwarding to", "cyan")
        asyncio.run(main())


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    dead: Annotated[int, typer.Option(help="Dead rows to list (with their error).")] = 20,
) -> None:
    """Rows by destination and state, the oldest waiting, and the dead rows."""
    from bridge.forwarding import STATES
    from bridge.forwarding.outbox import DEAD, IN_FLIGHT, PENDING

    settings = load_settings()
    config = forwarding_config(settings)
    with _outbox(settings) as outbox:
        counts = outbox.counts()
        dead_rows = outbox.rows(DEAD, limit=dead) if dead else []
    names = sorted({d.name for d in config.destinations} | {c.destination for c in counts})
    now = time.time()
    summary: list[dict[str, Any]] = []
    for name in names:
        found = {c.state: c for c in counts if c.destination == name}
        waiting = [found[s].oldest for s in (PENDING, IN_FLIGHT) if s in found]
        summary.append(
            {
                "destination": name,
                **{state: found[state].count if state in found else 0 for state in STATES},
                "oldest_pending_seconds": round(now - min(waiting) / 1e6, 1) if waiting else None,
            }
        )
    if as_json:
        listed = [
            {
                "id": r.id,
                "destination": r.destination,
                "document": r.document,
                "attempts": r.attempts,
                "error": r.last_error,
            }
            for r in dead_rows
        ]
        typer.echo(orjson.dumps({"destinations": summary, "dead": listed}).decode())
        return
    if not summary:
        out.print("no destination configured, and no row in the outbox")
        return
    table = Table(title="Outbox", title_justify="left")
    table.add_column("destination", overflow="fold")  # a URL, whole even on a narrow terminal
    for heading in (*STATES, "oldest pending"):
        table.add_column(heading)
    for line in summary:
        age = line["oldest_pending_seconds"]
        table.add_row(
            escape(str(line["destination"])),
            *(str(line[state]) for state in STATES),
            "-" if age is None else _duration(age),
        )
    out.print(table)
    for row in dead_rows:  # one line each, never wrapped: grep-able
        out.print(
            f"[red]dead[/red] {row.id} {escape(row.destination)} {row.document} after "
            f"{row.attempts} attempt(s): {escape(row.last_error or '')}",
            highlight=False,
            soft_wrap=True,
        )
    if dead_rows:
        out.print("send again: crbio forward retry ID… or crbio forward retry --dead")


@app.command()
def retry(
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="[ID]...", help="Outbox rows to send again.")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead row.")] = False,
    destination: Annotated[
        str | None, typer.Option(help="Only the rows of this destination.")
    ] = None,
) -> None:
    """Make rows due now, attempts reset: dead rows, or any row but one in flight."""
    if not ids and not dead:
        raise usage("give row ids (crbio forward status lists the dead ones), or --dead", "ID")
    with _outbox(load_settings()) as outbox:
        count = outbox.retry(ids or (), dead=dead, destination=destination)
    typer.echo(f"{count} row(s) due again")
    if ids and count < len(ids):
        where = ", or of another destination" if destination else ""
        raise fail(f"{len(ids) - count} id(s) not found, or in flight{where}")


def forwarding_config(settings: Settings) -> ForwardingConfig:
    """The forwarding configuration; one that cannot be used is a usage error."""
    from bridge.forwarding import ForwardingConfigError, load_config

    try:
        return load_config(settings)
    except ForwardingConfigError as exc:
        raise usage(f"configuration: {exc}") from exc


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    """The store the outbox is in: an existing one (a new one would have no row)."""
    store = open_for_reading(settings)
    if store is None:
        raise fail(missing_store(settings))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _outbox(settings: Settings) -> Iterator[Outbox]:
    from bridge.forwarding import Outbox

    with _store(settings) as store:
        yield Outbox(store)


def _duration(seconds: float) -> str:
    """
    >>> _duration(42.0), _duration(3720.0), _duration(200000.0)
    ('42 s', '1 h 02 min', '2 d 07 h')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"
    return f"{seconds // 86400:.0f} d {seconds % 86400 // 3600:02.0f} h"
