"""A socket's outgoing frames, bounded in bytes: a slow reader makes the calls that write to it
wait (and, through gRPC flow control, the translator and the upstream), instead of growing the
server's memory without bound."""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.websockets import WebSocket


class Outbox:
    def __init__(self, websocket: WebSocket, max_bytes: int) -> None:
        self._ws = websocket
        self._max = max_bytes
        self._queued = 0
        self._frames: deque[str] = deque()
        self._changed = asyncio.Condition()
        self._closed = False

    async def put(self, frame: str) -> None:
        size = len(frame)
        async with self._changed:
            # One frame larger than the budget still goes, alone, so nothing deadlocks.
            await self._changed.wait_for(
                lambda: self._closed or self._queued == 0 or self._queued + size <= self._max
            )
            if self._closed:
                return
            self._frames.append(frame)
            self._queued += size
            self._changed.notify_all()

    async def run(self) -> None:
        """Writes frames until closed; returns when the socket fails."""
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self._closed or bool(self._frames))
                if not self._frames:
                    return
                frame = self._frames.popleft()
            try:
                await self._ws.send_text(frame)
            finally:
                async with self._changed:
                    self._queued -= len(frame)
                    self._changed.notify_all()

    @property
    def queued_bytes(self) -> int:
        return self._queued

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
