"""Store work that stops when the client goes away.

A search runs in a worker thread while the request's task waits for the client's
`http.disconnect`; when it comes first, the search's statements are interrupted
(`bridge.store.database.Interrupt`), so a request nobody waits for any more never
keeps a database connection busy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from bridge.store.database import Interrupt

__all__ = ["until_disconnected"]

T = TypeVar("T")


async def until_disconnected(request: Request, work: Callable[[Interrupt], T]) -> T:
    """`work(interrupt)` in a worker thread, interrupted if the client disconnects.

    The request body, if any, must have been read: what `receive` gives now is only
    the disconnection (or nothing, until the answer is sent).
    """
    interrupt = Interrupt()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        interrupt.cancel()

    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            outcome.append(await run_in_threadpool(work, interrupt))
        except Exception as exc:  # raised below, not as a task group's ExceptionGroup
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome[0]
