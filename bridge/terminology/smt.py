"""Client of the national terminology server (SMT, an Ontoserver, FHIR R4).

fhirpy's `AsyncFHIRClient` builds the requests; aiohttp raises on any non-2xx
status (`raise_for_status`), so that a 503 is told from a 400 and only server-side
failures are retried. Reads are anonymous unless credentials are configured: then a
bearer token comes from the SMT Keycloak (password grant, client `user-api`) and is
renewed once when the SMT answers 401.

A circuit breaker makes an unreachable SMT cost one timeout, not one per call: after
a failed call, calls fail at once for `cooldown` seconds, then one call tries again.
Every failure surfaces as `TerminologyUnavailable`; the caller decides whether a
cached answer will do.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from fhirpy import AsyncFHIRClient

from bridge.errors import TerminologyUnavailable

__all__ = ["SMT_BASE", "SMT_TOKEN_URL", "CircuitBreaker", "SmtClient", "SmtCredentials"]

SMT_BASE = "https://smt.esante.gouv.fr/fhir"
SMT_TOKEN_URL = "https://smt.esante.gouv.fr/ans/sso/auth/realms/ANS/protocol/openid-connect/token"
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class CircuitBreaker:
    """Closed until a call fails; then open (calls refused) for `cooldown` seconds."""

    def __init__(self, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at < self.cooldown

    def success(self) -> None:
        self._opened_at = None

    def failure(self) -> None:
        self._opened_at = self._clock()


@dataclass(frozen=True, slots=True)
class SmtCredentials:
    username: str
    password: str
    token_url: str = SMT_TOKEN_URL
    client_id: str = "user-api"


class SmtClient:
    """$translate, $lookup and $expand on the SMT, with timeouts, retries and a breaker."""

    def __init__(
        self,
        base_url: str = SMT_BASE,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        credentials: SmtCredentials | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.credentials = credentials
        self.breaker = breaker or CircuitBreaker()
        self._token: str | None = None
        self._token_expires = 0.0

    async def translate(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        return await self._call("ConceptMap/$translate", params, "Parameters")

    async def lookup(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        return await self._call("CodeSystem/$lookup", params, "Parameters")

    async def expand(self, url: str, *, offset: int, count: int) -> dict[str, Any]:
        params = [("url", url), ("offset", str(offset)), ("count", str(count))]
        return await self._call("ValueSet/$expand", params, "ValueSet")

    # -------------------------------------------------------------------------

    async def _call(
        self, path: str, params: list[tuple[str, str]], expected: str
    ) -> dict[str, Any]:
        if self.breaker.is_open:
            raise TerminologyUnavailable(
                f"SMT {self.base_url} unreachable a moment ago; not retried before "
                f"{self.breaker.cooldown:.0f} s"
            )
        renewed = False
        for attempt in range(self.retries + 1):
            try:
                body = await self._request(path, params)
            except aiohttp.ClientResponseError as exc:
                if exc.status == 401 and self.credentials is not None and not renewed:
                    self._token, renewed = None, True
                    continue
                if exc.status in _RETRIED_STATUSES and attempt < self.retries:
                    await asyncio.sleep(self.backoff * 2**attempt)
                    continue
                if exc.status in _RETRIED_STATUSES:
                    self.breaker.failure()
                raise TerminologyUnavailable(
                    f"SMT {self.base_url}/{path} answered HTTP {exc.status}"
                ) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:  # one timeout, then the breaker
                self.breaker.failure()
                raise TerminologyUnavailable(
                    f"SMT {self.base_url}/{path} unreachable: {self._reason(exc)}"
                ) from exc
            except ValueError as exc:  # a body that is not JSON
                self.breaker.failure()
                raise TerminologyUnavailable(
                    f"SMT {self.base_url}/{path} answered a malformed body"
                ) from exc
            if not isinstance(body, dict) or body.get("resourceType") != expected:
                self.breaker.failure()
                found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
                raise TerminologyUnavailable(
                    f"SMT {self.base_url}/{path} answered {found}, not {expected}"
                )
            self.breaker.success()
            return body
        raise TerminologyUnavailable(
            f"SMT {self.base_url}/{path} refused the credentials (HTTP 401)"
        )

    def _reason(self, exc: BaseException) -> str:
        """Why a request failed, in words: aiohttp's own text names `ssl:default` even for
        an http URL, and an errno-less "Connect call failed"."""
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout:g} s (BRIDGE_SMT_TIMEOUT)"
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return f"its TLS certificate was refused ({exc.certificate_error})"
        if isinstance(exc, aiohttp.ClientConnectorError):
            error = exc.os_error
            why = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
            return f"cannot connect to {exc.host}:{exc.port} ({why or error})"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the server closed the connection"
        return str(exc) or type(exc).__name__

    async def _request(self, path: str, params: list[tuple[str, str]]) -> Any:
        authorization = await self._authorization()
        client = AsyncFHIRClient(
            self.base_url,
            authorization=authorization,
            aiohttp_config={
                "timeout": aiohttp.ClientTimeout(total=self.timeout),
                "raise_for_status": True,
            },
        )
        query: dict[str, Any] = {}
        for name, value in params:
            query.setdefault(name, []).append(value)
        body = await client.execute(path, method="get", params=query)
        return json.loads(json.dumps(body)) if body is not None else None  # plain dicts

    async def _authorization(self) -> str | None:
        if self.credentials is None:
            return None
        if self._token is None or time.monotonic() > self._token_expires:
            self._token, lifetime = await self._fetch_token(self.credentials)
            self._token_expires = time.monotonic() + max(lifetime - 30, 0)
        return f"Bearer {self._token}"

    async def _fetch_token(self, credentials: SmtCredentials) -> tuple[str, float]:
        form = {
            "grant_type": "password",
            "client_id": credentials.client_id,
            "username": credentials.username,
            "password": credentials.password,
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(credentials.token_url, data=form) as response:
                    if response.status != 200:
                        raise TerminologyUnavailable(
                            f"SMT Keycloak refused the credentials (HTTP {response.status} "
                            f"from {credentials.token_url})"
                        )
                    token = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            self.breaker.failure()
            why = self._reason(exc) if not isinstance(exc, ValueError) else "a malformed answer"
            raise TerminologyUnavailable(
                f"SMT Keycloak {credentials.token_url} unreachable: {why}"
            ) from exc
        return str(token["access_token"]), float(token.get("expires_in", 300))
