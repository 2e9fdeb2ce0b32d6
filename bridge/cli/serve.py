"""`crbio serve`: the FHIR server on the store named by BRIDGE_DATABASE_URL.

Without credentials (BRIDGE_API_KEYS or BRIDGE_OIDC_ISSUER) the server binds only to
loopback and says so; asked to listen on another interface without credentials, it
refuses to start.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bridge.settings import Settings

__all__ = ["hash_key", "serve"]

err = Console(stderr=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    ingest: Annotated[
        list[Path] | None,
        typer.Option(
            "--ingest", help="CDA files or folders to ingest before serving (e.g. fhir_examples)."
        ),
    ] = None,
) -> None:
    """Serve the FHIR API (default http://127.0.0.1:8000/fhir)."""
    import uvicorn

    from bridge.api import create_app
    from bridge.api.observability import JsonFormatter
    from bridge.store import open_store
    from bridge.terminology.service import from_settings

    settings = Settings.from_environment()
    if not settings.has_credentials:
        if not is_loopback(host):
            err.print(
                f"[red]refusing to listen on {host}[/red]: no credentials are configured "
                "(set BRIDGE_API_KEYS or BRIDGE_OIDC_ISSUER, or listen on 127.0.0.1)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        err.print(
            f"[yellow]no credentials configured[/yellow]: listening on {host} only; "
            "anyone on this machine can read and write",
            highlight=False,
            soft_wrap=True,
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    store = open_store(settings.database_url)
    if ingest:
        terminology = from_settings(replace(settings, offline=True), store)
        _ingest(store, ingest, settings.max_document_bytes, terminology.conversion_options())
    err.print(
        f"serving {settings.database_url.split('@')[-1]} at http://{host}:{port}/fhir",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(
        create_app(settings, store=store), host=host, port=port, log_config=None, access_log=False
    )


def _ingest(store: object, paths: list[Path], max_bytes: int, options: dict[str, Any]) -> None:
    from bridge.cli.batch import discover
    from bridge.errors import DocumentError
    from bridge.mapping import convert

    done = unchanged = 0
    for path, _ in discover(paths):
        try:
            conversion = convert(path.read_bytes(), max_bytes=max_bytes, **options)
            _, changed = store.ingest(conversion)  # type: ignore[attr-defined]
        except DocumentError as exc:
            err.print(
                f"[red]rejected[/red] {path}: {exc.code}: {exc}", highlight=False, soft_wrap=True
            )
            continue
        done += 1
        unchanged += not changed
    err.print(f"ingested {done} document(s) ({unchanged} already stored, unchanged)")


def hash_key(
    name: Annotated[str, typer.Argument(help="A name for the key (who uses it).")],
    scopes: Annotated[str, typer.Option(help="read, or read+write.")] = "read",
) -> None:
    """Make a new API key: prints the key once, and the BRIDGE_API_KEYS entry to configure."""
    import secrets

    from bridge.api.auth import hash_key as digest

    key = secrets.token_urlsafe(32)
    typer.echo(f"key (give it to the client, it is not stored): {key}")
    typer.echo(f"BRIDGE_API_KEYS entry: {name}:{digest(key)}:{scopes}")
