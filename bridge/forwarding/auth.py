"""The Authorization header of a destination: a static bearer token, or OAuth2 client
credentials whose token is renewed before it expires and once more on a 401."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote

import aiohttp

from bridge.forwarding.config import Auth, BearerToken, ClientCredentials
from bridge.forwarding.errors import DeliveryFailed

__all__ = ["ClientCredentialsToken", "StaticToken", "TokenSource", "token_source"]


class TokenSource(Protocol):
    renewable: bool  # whether `invalidate` can bring a different token

    async def authorization(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    renewable = False

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    async def authorization(self) -> str:
        return self._header

    def invalidate(self) -> None:
        pass


class ClientCredentialsToken:
    """A token from `credentials.token_url`, shared by concurrent deliveries.

    Renewed when less than a tenth of its lifetime (at most 30 s) is left, so that a
    delivery never starts with a token about to expire.
    """

    renewable = True

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetched = 0  # tokens obtained so far (for the tests and the logs)

    async def authorization(self) -> str:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                token, lifetime = await self._fetch()
                self._token, self.fetched = token, self.fetched + 1
                self._renew_at = self._clock() + lifetime - min(30.0, lifetime / 10)
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        self._token = None

    async def _fetch(self) -> tuple[str, float]:
        c = self.credentials
        form = {"grant_type": "client_credentials"}
        if c.scope:
            form["scope"] = c.scope
        headers = {}
        if c.client_auth == "basic":  # RFC 6749 §2.3.1: each part form-encoded first
            pair = f"{quote(c.client_id, safe='')}:{quote(c.client_secret, safe='')}"
            headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
        else:
            form |= {"client_id": c.client_id, "client_secret": c.client_secret}
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as session:
                async with session.post(c.token_url, data=form, headers=headers) as response:
                    if response.status != 200:
                        raise DeliveryFailed(
                            f"the token endpoint refused the client {c.client_id} "
                            f"(HTTP {response.status})"
                        )
                    answer = await response.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            raise DeliveryFailed(
                f"the token endpoint is unreachable ({exc!r})", unavailable=True
            ) from exc
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise DeliveryFailed(f"the token endpoint did not answer ({exc!r})") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise DeliveryFailed("the token endpoint answered no access_token")
        return answer["access_token"], float(answer.get("expires_in") or 300)


def token_source(auth: Auth | None, timeout: float = 10.0) -> TokenSource | None:
    if isinstance(auth, BearerToken):
        return StaticToken(auth.token)
    if isinstance(auth, ClientCredentials):
        return ClientCredentialsToken(auth, timeout=timeout)
    return None
