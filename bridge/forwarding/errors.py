"""Why a delivery did not succeed, and whether trying again can help.

BridgeError
└── ForwardingError
    ├── ForwardingConfigError (ValueError)   a configuration key that cannot be used
    ├── MissingResource (LookupError)        a row names what the store never held
    └── DeliveryFailed                       the destination did not take the Bundle
"""

from __future__ import annotations

from typing import Any

from bridge.errors import BridgeError

__all__ = ["DeliveryFailed", "ForwardingConfigError", "ForwardingError", "MissingResource"]


class ForwardingError(BridgeError):
    code = "forwarding-error"


class ForwardingConfigError(ForwardingError, ValueError):
    """Raised when the forwarding configuration cannot be used (it says which key)."""

    code = "forward-config"


class MissingResource(ForwardingError, LookupError):
    """Raised when a row names a resource the store never held (the row cannot be sent)."""

    code = "forward-missing-resource"


class DeliveryFailed(ForwardingError):
    """Raised when a destination did not take a Bundle: no answer, or an error status.

    `permanent`: the destination refused the content itself (a 4xx other than 401, 403,
    408, 409 and 429); sending it again would be refused again. `unavailable`: the
    destination takes nothing now, whatever the Bundle (no connection, 503, 429); such a
    failure does not use up the row's attempts. `retry_after`: the seconds the
    destination asked for (Retry-After). `outcome`: its OperationOutcome.
    """

    code = "forward-failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome: dict[str, Any] | None = None,
        permanent: bool = False,
        unavailable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.outcome = outcome
        self.permanent = permanent
        self.unavailable = unavailable
