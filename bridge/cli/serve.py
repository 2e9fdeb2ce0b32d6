"""`crbio serve`: the FHIR server on the store named by BRIDGE_DATABASE_URL.

Without credentials (BRIDGE_API_KEYS or BRIDGE_OIDC_ISSUER) the server binds only to
loopback and says so; asked to listen on another interface without credentials, it
refuses to start. It says which store it serves (and when it created it).
`crbio hash-key` makes an API key with scopes the server knows.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bridge.cli.problems import err, fail, load_settings, usage
from bridge.cli.stores import describe, open_for_writing
from bridge.settings import SCOPES, parse_scopes

__all__ = ["hash_key", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    ingest: Annotated[
        list[Path] | None,
        typer.Option(
            "--ingest",
            exists=True,
            readable=True,
            help="CDA files or folders to ingest before serving (e.g. fhir_examples).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the FHIR API (default http://127.0.0.1:8000/fhir)."""
    import uvicorn

    from bridge.api import create_app
    from bridge.api.observability import JsonFormatter
    from bridge.cli.forward import forwarding_config
    from bridge.cli.load import load_documents, report
    from bridge.forwarding import Forwarding

    settings = load_settings()
    if not settings.has_credentials:
        if not is_loopback(host):
            err.print(
                f"[red]refusing to listen on {escape(host)}[/red]: no credentials are configured "
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
    _check_listen(host, port)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    forward = forwarding_config(settings)
    store = open_for_writing(settings)
    if ingest and forward.destinations:  # documents ingested here are forwarded too
        Forwarding(store, forward).install()
    if ingest:
        summary = load_documents(
            store,
            ingest,
            batch=50,
            jobs=1,
            max_bytes=settings.max_document_bytes,
            database_url=settings.database_url,
        )
        report(summary)
    err.print(
        f"serving {describe(settings)} at http://{host}:{port}/fhir",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(
        create_app(settings, store=store), host=host, port=port, log_config=None, access_log=False
    )


def _check_listen(host: str, port: int) -> None:
    """Fail now, with the reason, when (host, port) cannot be listened on (uvicorn would
    say it in a log line after the ingestion, and exit with 3)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind((host, port))
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port or "
            "--host)"
        ) from exc


def hash_key(
    name: Annotated[
        str, typer.Argument(help="A name for the key (who uses it).", show_default=False)
    ],
    scopes: Annotated[
        str, typer.Option(help=f"{' or '.join(SCOPES)}, or both: read+write.")
    ] = "read",
) -> None:
    """Make a new API key: prints the key once, and the BRIDGE_API_KEYS entry to configure."""
    import secrets

    from bridge.api.auth import hash_key as digest

    if not name or any(c in name for c in ":,") or name != name.strip() or not name.isprintable():
        raise usage(f"{name!r}: a key name has no ':', ',' or surrounding spaces", "NAME")
    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise usage(str(exc), "--scopes") from exc
    key = secrets.token_urlsafe(32)
    typer.echo(f"key (give it to the client, it is not stored): {key}")
    entry = "+".join(s for s in SCOPES if s in granted)
    typer.echo(f"BRIDGE_API_KEYS entry: {name}:{digest(key)}:{entry}")
