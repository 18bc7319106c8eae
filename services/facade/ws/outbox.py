"""A socket's outgoing frames, bounded in bytes: a slow reader makes the calls that write to it
wait (and, through gRPC flow control, the translator and the upstream), instead of growing the
server's memory without bound.

Putting a frame while there is room costs an append and a wake-up, no lock: a streamed call
puts one frame per event. The frames queued together go in one write when the server lets
them (services/facade/ws/frame_writer.py)."""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.websockets import WebSocket

from services.facade.ws.frame_writer import FrameWriter

# The most one write of queued frames carries (a frame larger than this goes alone): what the
# socket's transport may buffer past its high-water mark before the next write waits for it,
# as it may past one frame written through ASGI.
_BATCH_BYTES = 64 * 1024


def _take(frames: deque[str], max_bytes: int) -> list[str]:
    """The first frames whose sizes fit in `max_bytes` together (at least one)."""
    batch = [frames.popleft()]
    size = len(batch[0])
    while frames and size + len(frames[0]) <= max_bytes:
        size += len(frames[0])
        batch.append(frames.popleft())
    return batch


class Outbox:
    def __init__(self, websocket: WebSocket, max_bytes: int) -> None:
        self._ws = websocket
        self._writer = FrameWriter.of(websocket)
        self._max = max_bytes
        self._queued = 0
        self._frames: deque[str] = deque()
        self._ready = asyncio.Event()  # frames to write, or closed
        self._room = asyncio.Condition()  # writers waiting for the byte budget
        self._blocked = 0
        self._closed = False

    def _fits(self, size: int) -> bool:
        # One frame larger than the budget still goes, alone, so nothing deadlocks.
        return self._closed or self._queued == 0 or self._queued + size <= self._max

    async def put(self, frame: str) -> None:
        size = len(frame)
        if not self._fits(size):
            async with self._room:
                self._blocked += 1
                try:
                    await self._room.wait_for(lambda: self._fits(size))
                finally:
                    self._blocked -= 1
        if self._closed:
            return
        self._frames.append(frame)
        self._queued += size
        self._ready.set()

    async def run(self) -> None:
        """Writes frames until closed (and drained); returns when the socket fails."""
        frames = self._frames
        while True:
            if not frames:
                if self._closed:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            if self._writer is not None:
                batch = _take(frames, _BATCH_BYTES)  # frames queued together, one write
                try:
                    await self._writer.write(batch)
                finally:
                    await self._sent(sum(len(frame) for frame in batch))
                continue
            frame = frames.popleft()
            try:
                await self._ws.send_text(frame)
            finally:
                await self._sent(len(frame))

    async def _sent(self, size: int) -> None:
        self._queued -= size
        if self._blocked:
            async with self._room:
                self._room.notify_all()

    @property
    def queued_bytes(self) -> int:
        return self._queued

    async def close(self) -> None:
        self._closed = True
        self._ready.set()
        async with self._room:
            self._room.notify_all()
