"""Configuration from the environment: one place that reads BRIDGE_* variables.

BRIDGE_DATABASE_URL   sqlite:///path (default sqlite:///./data/crbio.sqlite3) or postgresql://…
BRIDGE_SMT_URL        the SMT FHIR base (default https://smt.esante.gouv.fr/fhir)
BRIDGE_SMT_USERNAME   with BRIDGE_SMT_PASSWORD: SMT Keycloak account (anonymous without)
BRIDGE_SMT_TOKEN_URL  the Keycloak token endpoint (default: the SMT's)
BRIDGE_SMT_TIMEOUT    seconds (default 5)
BRIDGE_OFFLINE        1 to never call the SMT
BRIDGE_API_KEYS       static API keys, stored hashed: "name:sha256-hex:read+write,name:hex:read"
                      (`crbio hash-key` prints such an entry for a new key)
BRIDGE_OIDC_ISSUER    accept JWTs from this issuer (Keycloak realm, Pro Santé Connect…)
BRIDGE_OIDC_JWKS_URL  its signing keys (default: the issuer's openid-configuration jwks_uri)
BRIDGE_OIDC_AUDIENCE  the audience tokens must carry (optional)
BRIDGE_OIDC_TIMEOUT   seconds to wait for the issuer's keys (default 5)
BRIDGE_MAX_DOCUMENT_BYTES  largest CDA accepted (default 50 MB)
BRIDGE_EXPORT_RETENTION  seconds a finished bulk export stays downloadable (default 86400)
BRIDGE_EXPORT_WORKER  0 to run no bulk export jobs in this process (default 1: it runs them)
BRIDGE_FORWARD_TO     FHIR bases every ingested report is forwarded to, comma-separated
BRIDGE_FORWARD_CONFIG a TOML file: destinations with authentication and filters, worker
                      timings (see bridge.forwarding.config)
BRIDGE_FORWARD_WORKER 0 to leave delivery to `crbio forward run` (default: `crbio serve`
                      delivers too, when destinations are configured)
BRIDGE_STATEMENT_TIMEOUT   seconds a database statement of the API may run (default 30;
                      0: no limit); past it, the request gets a 503 OperationOutcome
BRIDGE_REFERENCE_POLICY    reject (default): a written reference must name a resource of
                      this server (422 otherwise); allow: store it anyway
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["ApiKey", "SCOPES", "Settings", "parse_api_keys", "parse_scopes"]

DEFAULT_DATABASE_URL = "sqlite:///./data/crbio.sqlite3"
DEFAULT_SMT_URL = "https://smt.esante.gouv.fr/fhir"
# What an API key may be granted: `read`, and `write` (which includes reading).
SCOPES = ("read", "write")


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    sha256: str  # hex digest of the key: the key itself is never stored
    scopes: frozenset[str]


def parse_scopes(text: str) -> frozenset[str]:
    """ "read+write" (or "read write") → the scopes; ValueError names an unknown one.

    >>> sorted(parse_scopes("write+read"))
    ['read', 'write']
    """
    scopes = frozenset(text.replace("+", " ").split())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        found = f"unknown scope {', '.join(map(repr, unknown))}" if unknown else "no scope"
        raise ValueError(f"{found}: the server knows {' and '.join(SCOPES)} (e.g. read+write)")
    return scopes


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """ "reader:<hex>:read,ingest:<hex>:read+write" → ApiKey entries."""
    keys = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, _, rest = entry.partition(":")
        digest, _, scopes = rest.partition(":")
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest.lower()):
            raise ValueError(f"BRIDGE_API_KEYS entry {name!r}: expected name:sha256-hex:scopes")
        try:
            keys.append(ApiKey(name, digest.lower(), parse_scopes(scopes)))
        except ValueError as exc:
            raise ValueError(f"BRIDGE_API_KEYS entry {name!r}: {exc}") from exc
    return tuple(keys)


def _number(
    name: str, default: str, kind: type[int] | type[float], *, positive: bool = False
) -> int | float:
    """A number of seconds or bytes: never negative, NaN or infinite (and above 0 where
    0 would refuse everything), so that a typo is named at start-up, not met later."""
    value = os.environ.get(name, default)
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        wanted = "above 0" if positive else "0 or more"
        raise ValueError(f"{name}={value!r}: expected a number {wanted}")
    return number


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off (any case); anything else is named, not guessed."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"{name}={value!r}: expected 1 or 0 (true/false, yes/no)")


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smt_url: str = DEFAULT_SMT_URL
    smt_username: str | None = None
    smt_password: str | None = field(default=None, repr=False)
    smt_token_url: str | None = None
    smt_timeout: float = 5.0
    offline: bool = False
    api_keys: tuple[ApiKey, ...] = ()
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    oidc_timeout: float = 5.0
    max_document_bytes: int = 50 * 1024 * 1024
    export_retention: float = 86_400.0
    export_worker: bool = True
    forward_to: tuple[str, ...] = ()
    forward_config: Path | None = None
    forward_worker: bool = True
    statement_timeout: float = 30.0
    reference_policy: Literal["reject", "allow"] = "reject"

    def __post_init__(self) -> None:
        if self.reference_policy not in ("reject", "allow"):
            raise ValueError(
                f"BRIDGE_REFERENCE_POLICY={self.reference_policy!r}: expected reject or allow"
            )

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of the BRIDGE_* variables; ValueError names a malformed one."""
        env = os.environ
        return cls(
            database_url=env.get("BRIDGE_DATABASE_URL", DEFAULT_DATABASE_URL),
            smt_url=env.get("BRIDGE_SMT_URL", DEFAULT_SMT_URL),
            smt_username=env.get("BRIDGE_SMT_USERNAME") or None,
            smt_password=env.get("BRIDGE_SMT_PASSWORD") or None,
            smt_token_url=env.get("BRIDGE_SMT_TOKEN_URL") or None,
            smt_timeout=float(_number("BRIDGE_SMT_TIMEOUT", "5", float, positive=True)),
            offline=_flag("BRIDGE_OFFLINE", False),
            api_keys=parse_api_keys(env.get("BRIDGE_API_KEYS", "")),
            oidc_issuer=env.get("BRIDGE_OIDC_ISSUER") or None,
            oidc_jwks_url=env.get("BRIDGE_OIDC_JWKS_URL") or None,
            oidc_audience=env.get("BRIDGE_OIDC_AUDIENCE") or None,
            oidc_timeout=float(_number("BRIDGE_OIDC_TIMEOUT", "5", float, positive=True)),
            max_document_bytes=int(
                _number("BRIDGE_MAX_DOCUMENT_BYTES", str(50 * 1024 * 1024), int, positive=True)
            ),
            export_retention=float(_number("BRIDGE_EXPORT_RETENTION", "86400", float)),
            export_worker=_flag("BRIDGE_EXPORT_WORKER", True),
            forward_to=tuple(
                u.strip() for u in env.get("BRIDGE_FORWARD_TO", "").split(",") if u.strip()
            ),
            forward_config=Path(env["BRIDGE_FORWARD_CONFIG"])
            if env.get("BRIDGE_FORWARD_CONFIG")
            else None,
            forward_worker=_flag("BRIDGE_FORWARD_WORKER", True),
            statement_timeout=float(_number("BRIDGE_STATEMENT_TIMEOUT", "30", float)),
            reference_policy=env.get("BRIDGE_REFERENCE_POLICY", "reject").lower(),  # type: ignore[arg-type]
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_keys or self.oidc_issuer)

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a sqlite:/// URL; None for another database."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url[len(prefix) :])
        return None
