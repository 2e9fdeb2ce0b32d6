"""Where ingested reports are forwarded, how to authenticate there, and the worker's timings.

Two sources, merged: `BRIDGE_FORWARD_TO` (comma-separated FHIR bases, the simple case:
no authentication, every report) and the TOML file named by `BRIDGE_FORWARD_CONFIG`:

    [worker]                      # every key optional; the defaults are shown
    backoff_base = 1.0            # seconds before the first retry (full jitter below it)
    backoff_cap = 60.0            # longest wait between two attempts of a row
    max_retry_after = 3600.0      # a longer Retry-After is cut to this
    lease = 120.0                 # a claimed row comes back to other workers after this
    poll_interval = 1.0           # how often a worker looks for due rows
    concurrency = 4               # deliveries in flight per worker
    retention_days = 7.0          # delivered rows are deleted after this

    [destinations.regional]
    base = "https://fhir.example.org/fhir"
    max_attempts = 20             # then the row is dead (4xx refusals: dead at once)
    timeout = 30.0                # seconds per delivery
    resource_types = ["DiagnosticReport", "Observation", "Patient"]   # default: all
                                  # (with what they refer to: references resolve)
    categories = ["http://loinc.org|18725-2"]   # reports with one of these; default: all
    auth = { type = "bearer", token_env = "REGIONAL_TOKEN" }

    [destinations.warehouse]
    base = "https://dw.example.org/fhir"
    [destinations.warehouse.auth]
    type = "client-credentials"   # OAuth2, token renewed before it expires and on a 401
    token_url = "https://auth.example.org/realms/lab/protocol/openid-connect/token"
    client_id = "crbio-bridge"
    client_secret_env = "WAREHOUSE_SECRET"
    scope = "system/*.write"      # optional
    client_auth = "basic"         # or "post" (client_secret_post)

Secrets are read from the environment variable named by `token_env` or
`client_secret_env` (a literal `token` / `client_secret` is accepted too). Unknown keys
are refused: a typo must not silently forward everything unauthenticated.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge.forwarding.errors import ForwardingConfigError
from bridge.settings import Settings

__all__ = [
    "Auth",
    "BearerToken",
    "ClientCredentials",
    "Destination",
    "ForwardingConfig",
    "WorkerSettings",
    "load_config",
    "parse_config",
]

DEFAULT_MAX_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class BearerToken:
    """A static `Authorization: Bearer <token>` header."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """OAuth2 client credentials grant (RFC 6749 §4.4) at `token_url`."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"


Auth = BearerToken | ClientCredentials


@dataclass(frozen=True, slots=True)
class Destination:
    """A downstream FHIR server; `name` identifies its outbox rows."""

    name: str
    base: str
    auth: Auth | None = None
    resource_types: frozenset[str] | None = None  # None: every resource of the report
    categories: frozenset[str] | None = None  # "system|code" or "code"; None: every report
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = 30.0

    def takes_type(self, resource_type: str) -> bool:
        return self.resource_types is None or resource_type in self.resource_types

    def takes_report(self, resources: Iterable[dict[str, Any]]) -> bool:
        """Whether a document's DiagnosticReport carries one of the categories asked for."""
        if self.categories is None:
            return True
        for resource in resources:
            if resource.get("resourceType") != "DiagnosticReport":
                continue
            for category in resource.get("category", ()):
                for coding in category.get("coding", ()):
                    code = coding.get("code")
                    if code in self.categories or f"{coding.get('system')}|{code}" in (
                        self.categories
                    ):
                        return True
        return False


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Timings of the delivery worker, in seconds (see the module docstring)."""

    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 3600.0
    lease: float = 120.0
    poll_interval: float = 1.0
    concurrency: int = 4
    retention_days: float = 7.0


@dataclass(frozen=True, slots=True)
class ForwardingConfig:
    destinations: tuple[Destination, ...] = ()
    worker: WorkerSettings = WorkerSettings()

    def destination(self, name: str) -> Destination | None:
        return next((d for d in self.destinations if d.name == name), None)


def load_config(settings: Settings) -> ForwardingConfig:
    """The configuration named by BRIDGE_FORWARD_TO and BRIDGE_FORWARD_CONFIG."""
    document: Mapping[str, Any] = {}
    path = settings.forward_config
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ForwardingConfigError(
                f"BRIDGE_FORWARD_CONFIG {path}: {exc.strerror or exc}"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ForwardingConfigError(f"BRIDGE_FORWARD_CONFIG {path}: {exc}") from exc
    return parse_config(document, settings.forward_to, source=str(path or "configuration"))


def parse_config(
    document: Mapping[str, Any],
    forward_to: Iterable[str] = (),
    *,
    source: str = "configuration",
    environ: Mapping[str, str] | None = None,
) -> ForwardingConfig:
    """A parsed TOML document (and the bases of BRIDGE_FORWARD_TO) as a configuration."""
    env = os.environ if environ is None else environ
    _known(document, {"worker", "destinations"}, source)
    worker = _worker(document.get("worker", {}), f"{source} [worker]")
    destinations = [
        _destination(name, table, f"{source} [destinations.{name}]", env)
        for name, table in _table(document.get("destinations", {}), source).items()
    ]
    bases = {d.base for d in destinations}
    for base in forward_to:
        base = _base(base, "BRIDGE_FORWARD_TO")
        if base not in bases:
            bases.add(base)
            destinations.append(Destination(name=base, base=base))
    for destination in destinations:
        if destination.timeout >= worker.lease:
            raise ForwardingConfigError(
                f"{source}: the lease ({worker.lease:g} s) must be longer than the timeout of "
                f"{destination.name} ({destination.timeout:g} s), or two workers could "
                "deliver one row at once"
            )
    return ForwardingConfig(tuple(destinations), worker)


def _worker(table: Any, where: str) -> WorkerSettings:
    table = _table(table, where)
    fields = WorkerSettings.__dataclass_fields__
    _known(table, set(fields), where)
    values: dict[str, Any] = {name: _number(table[name], f"{where} {name}") for name in table}
    if "concurrency" in values:
        values["concurrency"] = int(values["concurrency"])
        if values["concurrency"] < 1:
            raise ForwardingConfigError(f"{where} concurrency: at least 1")
    return WorkerSettings(**values)


def _destination(name: str, table: Any, where: str, env: Mapping[str, str]) -> Destination:
    table = _table(table, where)
    _known(
        table, {"base", "auth", "resource_types", "categories", "max_attempts", "timeout"}, where
    )
    if "base" not in table:
        raise ForwardingConfigError(f"{where}: base (the FHIR base URL) is missing")
    max_attempts = int(_number(table.get("max_attempts", DEFAULT_MAX_ATTEMPTS), where))
    if max_attempts < 1:
        raise ForwardingConfigError(f"{where} max_attempts: at least 1")
    return Destination(
        name=name,
        base=_base(table["base"], where),
        auth=_auth(table["auth"], f"{where} auth", env) if "auth" in table else None,
        resource_types=_strings(table, "resource_types", where),
        categories=_strings(table, "categories", where),
        max_attempts=max_attempts,
        timeout=_number(table.get("timeout", 30.0), f"{where} timeout"),
    )


def _auth(table: Any, where: str, env: Mapping[str, str]) -> Auth:
    table = _table(table, where)
    kind = table.get("type")
    if kind == "bearer":
        _known(table, {"type", "token", "token_env"}, where)
        return BearerToken(_secret(table, "token", where, env))
    if kind == "client-credentials":
        _known(
            table,
            {
                "type",
                "token_url",
                "client_id",
                "client_secret",
                "client_secret_env",
                "scope",
                "client_auth",
            },
            where,
        )
        for key in ("token_url", "client_id"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise ForwardingConfigError(f"{where}: {key} is missing")
        client_auth = table.get("client_auth", "basic")
        if client_auth not in ("basic", "post"):
            raise ForwardingConfigError(f"{where} client_auth: basic or post, not {client_auth!r}")
        return ClientCredentials(
            token_url=_base(table["token_url"], f"{where} token_url"),
            client_id=table["client_id"],
            client_secret=_secret(table, "client_secret", where, env),
            scope=table.get("scope") or None,
            client_auth=client_auth,
        )
    raise ForwardingConfigError(f"{where} type: bearer or client-credentials, not {kind!r}")


def _secret(table: Mapping[str, Any], key: str, where: str, env: Mapping[str, str]) -> str:
    if f"{key}_env" in table:
        name = table[f"{key}_env"]
        if not env.get(name):
            raise ForwardingConfigError(f"{where}: the environment variable {name} is not set")
        return env[name]
    if isinstance(table.get(key), str) and table[key]:
        return str(table[key])
    raise ForwardingConfigError(f"{where}: {key} or {key}_env is missing")


def _base(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ForwardingConfigError(f"{where}: {value!r} is not an http(s) URL")
    return value.rstrip("/")


def _strings(table: Mapping[str, Any], key: str, where: str) -> frozenset[str] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ForwardingConfigError(f"{where} {key}: a list of strings")
    return frozenset(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ForwardingConfigError(f"{where}: a number of seconds (or a count), not {value!r}")
    return float(value)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ForwardingConfigError(f"{where}: a table was expected")
    return value


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ForwardingConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
