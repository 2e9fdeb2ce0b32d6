"""Store work that stops when the client goes away.

A search runs in a worker thread while the request's task waits for the client's
`http.disconnect`; when it comes first, the search's statements are interrupted
(`bridge.store.database.Interrupt`), so a request nobody waits for any more never
keeps a database connection busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

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

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_in_threadpool(work, interrupt)
    finally:
        watcher.cancel()
