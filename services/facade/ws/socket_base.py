"""What every WebSocket protocol of the facade does around its frames: write through a
byte-bounded outbox, read text frames with an idle timeout, close on binary frames, and cancel
its calls in flight when the client goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from services.facade.auth import Principal
from services.facade.state import FacadeState
from services.facade.ws import frames
from services.facade.ws.limits import SocketLimits
from services.facade.ws.outbox import Outbox

# How long a draining socket waits for its calls to write their last frames once their gRPC
# calls have ended (the drain's grace bounded those): a moment, not a second grace.
_LAST_FRAMES_S = 5.0


class SocketBase:
    def __init__(
        self, websocket: WebSocket, state: FacadeState, tenant_id: str, limits: SocketLimits
    ) -> None:
        self.ws = websocket
        self.state = state
        self.tenant_id = tenant_id
        self.limits = limits
        self.outbox = Outbox(websocket, limits.max_queued_bytes)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._followups: set[asyncio.Future[None]] = set()
        self._sender: asyncio.Task[None] | None = None

    @property
    def queued_bytes(self) -> int:
        """Frames waiting for the client to read them: at most the socket's max_queued_bytes
        (and one frame), however slowly it reads."""
        return self.outbox.queued_bytes

    @property
    def principal(self) -> Principal | None:
        """The key the socket was opened with (set at the upgrade): its calls are metered."""
        principal: Principal | None = getattr(self.ws.state, "principal", None)
        return principal

    async def handle(self, text: str) -> None:
        """One text frame from the client."""
        raise NotImplementedError

    def start_task(
        self,
        key: str,
        work: Coroutine[Any, Any, None],
        on_cancel: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Runs one call; it leaves the in-flight set when it ends, however it ends. A task
        cancelled before it even started runs none of its own code, so what a cancelled call
        must say is said here, from the outside."""
        task = asyncio.create_task(work)
        self.tasks[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.pop(key, None)
            if finished.cancelled() and on_cancel is not None:
                self._followups.add(report := asyncio.ensure_future(on_cancel()))
                report.add_done_callback(self._followups.discard)

        task.add_done_callback(done)

    async def serve(self) -> None:
        sender = self._sender = asyncio.create_task(self.outbox.run())
        sender.add_done_callback(self._sender_ended)
        self.state.admission.sockets.add(self)
        try:
            await self._receive_loop()
        finally:
            self.state.admission.sockets.discard(self)
            for task in list(self.tasks.values()):
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            await self.outbox.close()
            with contextlib.suppress(Exception):
                await sender

    def _sender_ended(self, sender: asyncio.Task[None]) -> None:
        """A writer that failed leaves the client waiting for frames that will never come: the
        socket is closed (1011), which ends its calls. When the client went away, its receive
        loop ends the socket anyway, and this close finds it closed."""
        if sender.cancelled() or sender.exception() is None:
            return
        self._followups.add(closing := asyncio.ensure_future(self._close_broken()))
        closing.add_done_callback(self._followups.discard)

    async def _close_broken(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(frames.CLOSE_INTERNAL_ERROR, "internal error")

    async def close_for_restart(self) -> None:
        """The replica drains and no call of this socket is in flight upstream: each call's
        last frames (its `call.done`, written after its gRPC call ended) and the frames already
        queued go out, then the close code that tells the client to reconnect."""
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=_LAST_FRAMES_S)
        await self.outbox.close()
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender
        with contextlib.suppress(Exception):
            await self.ws.close(frames.CLOSE_SERVICE_RESTART, "service restart")

    async def _receive_loop(self) -> None:
        while True:
            timeout = None if self.tasks else self.limits.idle_timeout_s
            try:
                text = await asyncio.wait_for(self.ws.receive_text(), timeout)
            except TimeoutError:
                await self.ws.close(frames.CLOSE_IDLE, "idle timeout")
                return
            except (WebSocketDisconnect, RuntimeError):
                return  # the client went away: serve() cancels its calls
            except KeyError:  # a binary message: receive_text() finds no "text" key
                await self.ws.close(frames.CLOSE_PROTOCOL_ERROR, "frames must be JSON text")
                return
            await self.handle(text)
