"""One fuzz input through `bridge.mapping.convert`, and what became of it.

Allowed outcomes: a Conversion whose Bundle is valid FHIR (no empty or blank value,
references resolved, serialisable; on a sample, every resource parsed by the
fhir.resources R4B models), or a refusal (a `DocumentError`, counted by its code).
An invalid Bundle or any other exception is a finding; so is an input that takes longer
than `SLOW_SECONDS` to convert.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from bridge.errors import DocumentError
from bridge.mapping import convert
from tests.helpers import empty_values, roundtrip, validate_bundle

__all__ = ["SLOW_SECONDS", "Outcome", "run"]

SLOW_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "converted", "refused", "invalid", "crash" or "slow"
    reason: str = ""  # the refusal's code, or what is wrong (first line)
    detail: str = ""  # a traceback or the full list of problems

    @property
    def finding(self) -> bool:
        return self.kind in ("invalid", "crash", "slow")


def run(data: bytes, *, validate_models: bool) -> Outcome:
    """Convert `data`; check the Bundle (its resources against the models when asked)."""
    start = time.perf_counter()
    try:
        conversion = convert(data)
    except DocumentError as exc:
        return Outcome("refused", exc.code)
    except Exception as exc:  # noqa: BLE001 - everything else is what the fuzzer looks for
        return Outcome("crash", f"{type(exc).__name__}: {str(exc)[:200]}", traceback.format_exc())
    elapsed = time.perf_counter() - start
    try:
        bundle = roundtrip(conversion)  # serialised and read back, as clients receive it
    except Exception as exc:  # noqa: BLE001
        return Outcome("crash", f"{type(exc).__name__}: {str(exc)[:200]}", traceback.format_exc())
    try:
        blank = empty_values(bundle)
        if blank:
            return Outcome("invalid", f"empty value {blank[0][:200]}", "\n".join(blank))
        if validate_models:
            validate_bundle(bundle)
    except AssertionError as exc:
        return Outcome("invalid", str(exc).splitlines()[0][:200], str(exc))
    except Exception as exc:  # noqa: BLE001 - a model refusing a resource
        return Outcome("invalid", f"{type(exc).__name__}: {str(exc)[:200]}", traceback.format_exc())
    if elapsed > SLOW_SECONDS:
        return Outcome("slow", f"{elapsed:.1f} s to convert")
    return Outcome("converted")
