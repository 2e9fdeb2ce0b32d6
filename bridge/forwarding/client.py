"""Posting a transaction Bundle to a destination with fhirpy, and reading its answer.

fhirpy's `AsyncFHIRClient` builds the request (base URL, Authorization, Accept); the
body goes as the bytes the store's serialiser wrote, so decimals stay as written
("0.70", never 0.7). aiohttp's `raise_for_status` hook reads a failed answer before
fhirpy does: its status, its Retry-After and its OperationOutcome decide what the
worker does next (see `DeliveryFailed`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from fhirpy import AsyncFHIRClient

from bridge.forwarding.auth import TokenSource
from bridge.forwarding.config import Destination
from bridge.forwarding.errors import DeliveryFailed

__all__ = ["RETRIED_STATUSES", "UNAVAILABLE_STATUSES", "post_transaction", "retry_after"]

# 4xx answers that say nothing against the Bundle itself: credentials (renewed, or fixed
# by an operator), a timeout, a concurrent write, a rate limit. Every 5xx is retried too.
RETRIED_STATUSES = frozenset({401, 403, 408, 409, 429})
# The destination takes nothing now: the row's attempts are not used up waiting for it
UNAVAILABLE_STATUSES = frozenset({429, 503})
_MAX_ERROR_BYTES = 65536


async def post_transaction(
    destination: Destination, body: bytes, auth: TokenSource | None = None
) -> dict[str, Any]:
    """POST `body` (a transaction Bundle) to the destination's base; its response Bundle.

    Raises:
        DeliveryFailed: no answer in time, unreachable, or an error status.
    """
    renewed = False
    while True:
        authorization = await auth.authorization() if auth is not None else None
        client = AsyncFHIRClient(
            destination.base,
            authorization=authorization,
            aiohttp_config={
                "timeout": aiohttp.ClientTimeout(total=destination.timeout),
                "raise_for_status": _refuse_errors,
                "data": body,
                "headers": {"Content-Type": "application/fhir+json"},
            },
        )
        try:
            answer = await client.execute(destination.base, method="post")
        except DeliveryFailed as exc:
            if exc.status == 401 and auth is not None and auth.renewable and not renewed:
                auth.invalidate()  # revoked or expired early: one more try with a new token
                renewed = True
                continue
            raise
        except TimeoutError as exc:
            raise DeliveryFailed(f"no answer within {destination.timeout:g} s") from exc
        except aiohttp.ClientConnectorError as exc:  # refused, unknown host, TLS handshake
            raise DeliveryFailed(
                f"unreachable ({type(exc).__name__}: {exc})", unavailable=True
            ) from exc
        except aiohttp.ClientError as exc:  # connected, then the answer broke off
            raise DeliveryFailed(f"no complete answer ({type(exc).__name__}: {exc})") from exc
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise DeliveryFailed("answered a body that is not FHIR JSON") from exc
        if not isinstance(answer, dict) or answer.get("resourceType") != "Bundle":
            found = answer.get("resourceType") if isinstance(answer, dict) else "no body"
            raise DeliveryFailed(f"answered {found}, not a transaction-response Bundle")
        return answer


async def _refuse_errors(response: aiohttp.ClientResponse) -> None:
    """aiohttp's hook on every answer: an error status becomes `DeliveryFailed`."""
    status = response.status
    if status < 400:
        return
    text = (await response.content.read(_MAX_ERROR_BYTES)).decode("utf-8", "replace")
    outcome = None
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome":
            outcome = parsed
    except ValueError:
        pass
    diagnostics = "; ".join(
        str(issue.get("diagnostics") or issue.get("details", {}).get("text") or issue.get("code"))
        for issue in (outcome or {}).get("issue", ())[:3]
        if isinstance(issue, dict)
    )
    raise DeliveryFailed(
        f"HTTP {status}" + (f": {diagnostics}" if diagnostics else ""),
        status=status,
        retry_after=retry_after(response.headers.get("Retry-After")),
        outcome=outcome,
        permanent=status < 500 and status not in RETRIED_STATUSES,
        unavailable=status in UNAVAILABLE_STATUSES,
    )


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a Retry-After header: delay-seconds or an HTTP-date (RFC 9110).

    >>> retry_after("120")
    120.0
    >>> retry_after("Wed, 21 Oct 2015 07:28:30 GMT", datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
    30.0
    >>> retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
