"""Writing a step's events to the run's log in batches (group commit).

Every event is stored before any client sees it; one store round trip per event would make a
run's stream several times slower than a call's. The writer sends whatever has accumulated
while the previous batch was being stored, in order, one batch at a time, so a fast upstream
costs few round trips and a slow one adds no delay. A step that emits faster than the store
keeps up waits (at most `max_pending` events wait), as a slow socket makes a call wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class LogWriter:
    def __init__(
        self, append: Callable[[list[bytes]], Awaitable[object]], max_pending: int = 256
    ) -> None:
        self._append = append
        self._max = max_pending
        self._pending: list[bytes] = []
        self._busy = False
        self._error: Exception | None = None
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def put(self, event: bytes) -> None:
        """Queues an event; raises what the store answered if an earlier batch failed."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._error is not None or len(self._pending) < self._max
            )
            if self._error is not None:
                raise self._error
            self._pending.append(event)
            self._changed.notify_all()

    async def drain(self) -> None:
        """Returns once every queued event is stored; raises if a batch failed."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._error is not None or not (self._pending or self._busy)
            )
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        """Stops writing; events still queued are dropped (the step is over)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: bool(self._pending))
                batch, self._pending = self._pending, []
                self._busy = True
                self._changed.notify_all()
            try:
                await self._append(batch)
            except Exception as exc:
                async with self._changed:
                    self._error, self._busy = exc, False
                    self._changed.notify_all()
                return
            async with self._changed:
                self._busy = False
                self._changed.notify_all()
