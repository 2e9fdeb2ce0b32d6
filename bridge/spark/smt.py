"""The SMT asked from the executors: only the misses, once each, at a bounded rate.

The distinct misses of a job (bridge/spark/terminology.py) are spread over one task
per executor. Each Python worker keeps one client (`client_for`) between tasks: the
SMT client of the terminology layer (timeouts, retries on 5xx, circuit breaker,
Keycloak token) behind a token bucket, so that the whole job never sends the SMT more
than `SmtAccess.rate` requests a second, however many executors run.

- A correspondence miss (LOINC code, unit) is a `$translate` of the code to LOINC; a
  match counts only when it says its target's UCUM unit (`target-unit`, as this
  bridge's own `$translate` does) and that unit is the one asked: a LOINC code
  implies its unit family, and a guess would code a value wrongly.
- A display miss (system, code) is a `$lookup`, in French (`displayLanguage`).

A failed call is an unanswered question with its reason (the job goes on; the
document keeps its code without display, or its second value coded by text).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bridge.errors import TerminologyUnavailable
from bridge.settings import Settings
from bridge.spark.terminology import Answer, Question
from bridge.terminology.conceptmap import LOINC, in_unit
from bridge.terminology.operations import matches_from_parameters
from bridge.terminology.smt import SmtClient, SmtCredentials

__all__ = ["RateLimitedSmt", "SmtAccess", "TokenBucket", "ask_partition", "client_for"]


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; `reserve` says how long to wait.

    A reservation is taken at once (the bucket may go below zero), so that concurrent
    callers wait in turn, each `1 / rate` seconds after the previous one.

    >>> clock = iter([0.0, 0.0, 0.0, 0.0, 10.0]).__next__
    >>> bucket = TokenBucket(rate=2.0, burst=1.0, clock=clock)
    >>> [bucket.reserve() for _ in range(3)], bucket.reserve()
    ([0.0, 0.5, 1.0], 0.0)
    """

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a rate of {rate} requests a second lets nothing through")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = burst
        self._last = clock()

    def reserve(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass(frozen=True, slots=True)
class SmtAccess:
    """How the executors reach the SMT (pickled into the tasks, password included)."""

    url: str
    rate: float  # requests a second, for this client (the job's rate ÷ the tasks)
    timeout: float = 5.0
    credentials: SmtCredentials | None = None
    concurrency: int = 4  # requests in flight per client, within the rate

    @classmethod
    def of(cls, settings: Settings, rate: float) -> SmtAccess:
        credentials = None
        if settings.smt_username and settings.smt_password:
            credentials = SmtCredentials(
                settings.smt_username,
                settings.smt_password,
                **({"token_url": settings.smt_token_url} if settings.smt_token_url else {}),
            )
        return cls(settings.smt_url, rate, settings.smt_timeout, credentials)

    def shared(self, tasks: int) -> SmtAccess:
        """The access of one of `tasks` clients asking at once: a share of the rate."""
        return SmtAccess(
            self.url, self.rate / max(tasks, 1), self.timeout, self.credentials, self.concurrency
        )


class RateLimitedSmt:
    """The SMT client of the terminology layer behind a token bucket."""

    def __init__(self, access: SmtAccess) -> None:
        self.access = access
        self.smt = SmtClient(access.url, timeout=access.timeout, credentials=access.credentials)
        self.bucket = TokenBucket(access.rate)

    async def ask(self, question: Question) -> tuple[Answer, str | None]:
        """(answer, None), or (None, why no answer came)."""
        await asyncio.sleep(self.bucket.reserve())
        system, code, unit = question
        try:
            if unit:
                translated = await self.smt.translate(
                    [("system", system), ("code", code), ("targetsystem", LOINC)]
                )
                found = [m for m in matches_from_parameters(translated) if m.system == LOINC]
                match = in_unit(found, unit)
                return (None if match is None else match.coding()), None
            looked_up = await self.smt.lookup(
                [("system", system), ("code", code), ("displayLanguage", "fr-FR")]
            )
            display = next(
                (
                    p.get("valueString")
                    for p in looked_up.get("parameter", ())
                    if p.get("name") == "display"
                ),
                None,
            )
            return display, None
        except TerminologyUnavailable as exc:
            return None, str(exc)

    async def ask_all(self, questions: Iterable[Question]) -> list[tuple[Answer, str | None]]:
        gate = asyncio.Semaphore(self.access.concurrency)

        async def one(question: Question) -> tuple[Answer, str | None]:
            async with gate:
                return await self.ask(question)

        return list(await asyncio.gather(*(one(q) for q in questions)))


_CLIENTS: dict[SmtAccess, RateLimitedSmt] = {}


def client_for(access: SmtAccess) -> RateLimitedSmt:
    """The client of this Python worker process for `access`, made once: Spark reuses
    its Python workers between tasks, so the token, the breaker and the bucket last."""
    client = _CLIENTS.get(access)
    if client is None:
        client = _CLIENTS[access] = RateLimitedSmt(access)
    return client


def ask_partition(
    questions: Iterable[Question], access: SmtAccess
) -> Iterator[tuple[str, str, str, Answer, str | None]]:
    """(system, code, unit, answer, error) of each question (a task's share)."""
    asked = [tuple(q) for q in questions]
    if not asked:
        return iter(())
    answers = asyncio.run(client_for(access).ask_all(asked))  # type: ignore[arg-type]
    return iter([(*q, answer, error) for q, (answer, error) in zip(asked, answers, strict=True)])
