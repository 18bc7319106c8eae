"""Which calls the facade takes on: at most RHONE_FACADE_MAX_CONCURRENT_CALLS at once, and none
while it drains. A call refused here is a fast 503 in the surface's own shape (every SDK retries
it), never a queue that grows the process's memory.

Draining (SIGTERM, see services/facade/serving.py): /readyz turns 503 at once so the pod leaves
its Service, new calls are refused, and the calls in flight, streamed or on a WebSocket, run to
their end within the grace period. Then every WebSocket is closed with 1012 (service restart),
which tells its client to reconnect: to another replica."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from rhone.errors import Code, RhoneError

log = logging.getLogger("rhone.facade.admission")


class OpenSocket(Protocol):
    async def close_for_restart(self) -> None: ...

    @property
    def queued_bytes(self) -> int: ...


class Admission:
    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self.in_flight = 0
        self.draining = False
        self.sockets: set[OpenSocket] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def queued_bytes(self) -> int:
        """What the open WebSockets hold for their readers (rhone_ws_queued_bytes)."""
        return sum(socket.queued_bytes for socket in self.sockets)

    def check_open(self) -> None:
        """Raises RhoneError (503) while draining: a new WebSocket belongs on another replica."""
        if self.draining:
            raise RhoneError.of(
                Code.ERROR_CODE_UNAVAILABLE,
                "This Rhone replica is shutting down; retry and another one will answer.",
                detail="draining",
            )

    def enter(self) -> None:
        """Takes a slot for one call; raises RhoneError (503) when there is none."""
        self.check_open()
        if self.in_flight >= self.max_calls:
            raise RhoneError.of(
                Code.ERROR_CODE_UNAVAILABLE,
                f"Rhone is at its limit of {self.max_calls} concurrent calls; retry shortly.",
                detail="overloaded",
            )
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def drain(self, grace_s: float) -> None:
        """Refuses new calls, waits for those in flight (at most `grace_s`), then closes the
        WebSockets with the code that makes their clients reconnect."""
        self.draining = True
        log.info("draining: %d calls in flight, up to %.0fs", self.in_flight, grace_s)
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            log.warning("drain: %d calls still in flight after %.0fs", self.in_flight, grace_s)
        sockets = list(self.sockets)
        await asyncio.gather(*(s.close_for_restart() for s in sockets), return_exceptions=True)
        log.info("drained; %d WebSockets told to reconnect", len(sockets))
