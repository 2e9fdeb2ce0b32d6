"""Bearer tokens: static API keys (configured hashed) and OIDC JWTs; scopes read and write.

- An API key is compared by its SHA-256 (constant-time); the configuration never holds
  the key itself.
- A JWT is checked against the issuer's keys (JWKS, see `oidc.py`: fetched without
  blocking the event loop), issuer, expiry and, when configured, audience. Scopes
  come from `scope` (space separated) or `scp`: "read" and "write", or SMART-style
  "system/*.read", "user/*.write", "*.write". A token that is not a JWT is refused
  before any key is fetched.
- With no credentials configured, requests need no token; `crbio serve` then binds only
  to loopback and says so.
Writes always need `write`. Routes call `state.authorized(request, scope)` first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi import Request

from bridge.api.oidc import KeySet
from bridge.api.outcomes import ApiError
from bridge.settings import Settings

__all__ = ["Authenticator", "Principal"]

_BEARER = {"WWW-Authenticate": 'Bearer realm="crbio-bridge"'}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[str]

    def can(self, scope: str) -> bool:
        return scope in self.scopes or (scope == "read" and "write" in self.scopes)


ANONYMOUS = Principal("anonymous (no credentials configured)", frozenset({"read", "write"}))


def _scopes(granted: Any) -> frozenset[str]:
    words = granted.split() if isinstance(granted, str) else list(granted or ())
    scopes = set()
    for word in words:
        action = word.rsplit(".", 1)[-1] if "." in word else word
        if action in ("read", "write"):
            scopes.add(action)
        elif action in ("*", "cruds"):
            scopes |= {"read", "write"}
    return frozenset(scopes)


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def open(self) -> bool:
        """True when no credentials are configured (loopback-only service)."""
        return not self.settings.has_credentials

    @cached_property
    def _keys(self) -> KeySet:
        settings = self.settings
        return KeySet(settings.oidc_issuer or "", settings.oidc_jwks_url, settings.oidc_timeout)

    async def principal(self, request: Request) -> Principal:
        if self.open:
            return ANONYMOUS
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError("unauthorized", "a bearer token is required", _BEARER)
        return await self.token_principal(token.strip())

    async def token_principal(self, token: str) -> Principal:
        """Who an API key or a JWT is (the pages' sign-in cookie holds one of them)."""
        if self.open:
            return ANONYMOUS
        digest = hash_key(token)
        for key in self.settings.api_keys:
            if hmac.compare_digest(digest, key.sha256):
                return Principal(key.name, key.scopes)
        if self.settings.oidc_issuer and token.count(".") == 2:
            return await self._jwt(token)
        raise ApiError("unauthorized", "unknown or invalid bearer token", _BEARER)

    async def _jwt(self, token: str) -> Principal:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ApiError("unauthorized", f"the token is not a JWT: {exc}", _BEARER) from exc
        kid = header.get("kid")
        key = await self._keys.signing_key(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                issuer=self.settings.oidc_issuer,
                audience=self.settings.oidc_audience,
                options={
                    "verify_aud": self.settings.oidc_audience is not None,
                    "require": ["exp", "iss"],
                },
            )
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
            raise ApiError("unauthorized", f"invalid token: {exc}", _BEARER) from exc
        scopes = _scopes(claims.get("scope") or claims.get("scp"))
        return Principal(str(claims.get("sub") or claims.get("azp") or "oidc"), scopes)

    async def require(self, request: Request, scope: str) -> Principal:
        principal = await self.principal(request)
        if not principal.can(scope):
            raise ApiError("forbidden", f"this token has no {scope!r} scope")
        return principal


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
