"""Coalescing a stream: the items that are ready together travel together.

A gRPC message, an SSE write or a WebSocket frame costs about the same whether it carries one
token or fifty; when the producer is ahead of its reader (an upstream that sends a burst, a
reader busy writing the last batch), sending what has piled up as one batch makes a stream
cost a few messages instead of one per token. The first item is never held back: a reader
that keeps up gets batches of one, at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")

# A producer this far ahead of its reader waits for it: memory stays bounded, and so does how
# far a stream runs ahead of a client that stops reading (or cancels): no further than before
# coalescing, when gRPC's flow-control window alone bounded it.
MAX_BATCH = 64


async def coalesced(
    source: AsyncIterator[T], max_batch: int = MAX_BATCH
) -> AsyncGenerator[list[T], None]:
    """The source's items in order, as non-empty lists of the items ready when the reader
    asks. The source runs in a task of its own (with this task's context); closing this
    generator cancels it, and the source's own exception is raised here after the items it
    produced before it."""
    loop = asyncio.get_running_loop()
    ready: list[T] = []
    wake: asyncio.Future[None] | None = None
    room: asyncio.Future[None] | None = None
    failed: BaseException | None = None
    done = False

    def signal() -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def pump() -> None:
        nonlocal done, failed, room
        try:
            async for item in source:
                ready.append(item)
                signal()
                if len(ready) >= max_batch:
                    room = loop.create_future()
                    await room
        except Exception as exc:  # passed to the reader, in order
            failed = exc
        finally:
            done = True
            signal()

    task = asyncio.ensure_future(pump())
    try:
        while True:
            if not ready and not done:
                wake = loop.create_future()
                await wake
                wake = None
            if ready:
                batch = ready[:]
                ready.clear()
                if room is not None and not room.done():
                    room.set_result(None)
                yield batch
            elif done:
                if failed is not None:
                    raise failed
                return
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
