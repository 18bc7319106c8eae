"""uvicorn, with a drain in front of its own shutdown.

uvicorn alone, on SIGTERM, closes every WebSocket at once (1012) and gives HTTP streams a fixed
few seconds. Rhone drains first (services/facade/admission.py): the first SIGTERM or SIGINT
turns readiness false and lets the calls in flight finish within RHONE_SHUTDOWN_GRACE_S; only
then does uvicorn shut down. A second signal stops at once."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("rhone.facade")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.grace_s = grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is not None or self._loop is None or not self.started:
            super().handle_exit(sig, frame)
            return
        self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        if self._drain is None:
            self._drain = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self.app.state.rhone.admission.drain(self.grace_s)
        finally:
            self.should_exit = True
