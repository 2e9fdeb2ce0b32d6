"""The OIDC issuer's signing keys (JWKS), fetched without ever blocking the event loop.

- Keys are fetched with an async HTTP client and a timeout (`Settings.oidc_timeout`),
  from `BRIDGE_OIDC_JWKS_URL` or the issuer's openid-configuration `jwks_uri`.
- The key set is cached and used for KEYS_LIFETIME; a token naming a key id the cache
  does not know makes it fetch again, at most once per REFRESH_INTERVAL, so that
  tokens with made-up key ids never turn the server into a proxy hammering the issuer.
- Concurrent requests share one fetch (a lock), and a failed fetch is not retried
  before REFRESH_INTERVAL either: while the issuer cannot be reached, requests are
  answered at once, with a 503 (no key set at all) or from the cached keys.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt

from bridge.api.outcomes import ApiError

__all__ = ["KEYS_LIFETIME", "REFRESH_INTERVAL", "KeySet"]

KEYS_LIFETIME = 3600.0  # seconds a fetched key set is used before it is fetched again
REFRESH_INTERVAL = 30.0  # seconds between two fetches, whatever the tokens ask

_BEARER = {"WWW-Authenticate": 'Bearer realm="crbio-bridge"'}


class KeySet:
    """`await keys.signing_key(kid)`: the issuer's key for a token's key id."""

    def __init__(self, issuer: str, jwks_url: str | None, timeout: float) -> None:
        self.issuer = issuer.rstrip("/")
        self.jwks_url = jwks_url
        self.timeout = timeout
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # when the cached keys came
        self._attempted_at = float("-inf")  # when a fetch was last tried
        self._failure: str | None = None  # why the last fetch failed
        self._lock: asyncio.Lock | None = None

    async def signing_key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        stale = now - self._fetched_at > KEYS_LIFETIME
        if (stale or self._lookup(kid) is None) and now - self._attempted_at >= REFRESH_INTERVAL:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:  # one fetch for every request waiting on it
                if time.monotonic() - self._attempted_at >= REFRESH_INTERVAL:
                    await self._refresh()
        key = self._lookup(kid)
        if key is not None:
            return key
        if not self._keys:
            raise ApiError(
                "keys-unavailable",
                f"the OIDC issuer's signing keys cannot be fetched ({self._failure}); "
                "try again later",
                {"Retry-After": str(int(REFRESH_INTERVAL))},
            )
        raise ApiError(
            "unauthorized", "the token is signed with a key the issuer does not list", _BEARER
        )

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:  # a token without kid, an issuer with one key
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
                url = self.jwks_url or await self._discover(client)
                response = await client.get(url)
                response.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(response.json())
        except httpx.HTTPStatusError as exc:
            self._failure = f"the issuer answered {exc.response.status_code}"
            return
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
            self._failure = type(exc).__name__  # ConnectError, ReadTimeout, PyJWKSetError…
            return
        self._keys = {key.key_id: key for key in key_set.keys}
        self._fetched_at = self._attempted_at
        self._failure = None

    async def _discover(self, client: httpx.AsyncClient) -> str:
        response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        configuration: dict[str, Any] = response.json()
        self.jwks_url = str(configuration["jwks_uri"])
        return self.jwks_url
