"""Runs on a rhone.ws.v1 socket: the `run.*` frames of one socket (docs/rhone-ws-v1.md, "Runs").

The socket only asks the engine and follows runs: a follower sends a run's stored events in
order from a sequence number, and ends after the run's last one. A socket that goes away stops
its followers, never its runs."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import grpc

from services.facade.runs.engine import RunEngine, RunError
from services.facade.ws import frames
from services.facade.ws.calls import CALL_SURFACES

if TYPE_CHECKING:
    from services.facade.ws.rhone_socket import RhoneSocket

log = logging.getLogger("rhone.facade.runs")

# Followers are tasks of the socket (a socket following a run is not idle), under keys no
# call_id collides with (a call_id is JSON text, which a NUL byte never starts).
_KEY = "\x00run:"


class SocketRuns:
    def __init__(self, socket: RhoneSocket, engine: RunEngine) -> None:
        self.socket = socket
        self.engine = engine

    async def handle(self, frame: frames.RunFrame) -> None:
        fields = frame.fields
        run_id = fields.get("run_id")
        try:
            if frame.kind == "run.create":
                if run_id is not None and not isinstance(run_id, str):
                    raise RunError("invalid_run_id", "run.create: run_id must be a string.")
                await self._create(run_id, fields)
                return
            if not isinstance(run_id, str) or not run_id:
                raise RunError("invalid_run_id", f"{frame.kind}: run_id must be a string.")
            if frame.kind == "run.attach":
                after = fields.get("after", 0)
                if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                    raise RunError("invalid_frame", "run.attach: after must be an integer >= 0.")
                await self.engine.get(self.socket.tenant_id, run_id)  # unknown: an error now
                self._follow(run_id, after)
            elif frame.kind == "run.submit_tool_outputs":
                run = await self.engine.submit(
                    self.socket.tenant_id, run_id, fields.get("tool_outputs")
                )
                if _KEY + run_id not in self.socket.tasks:
                    self._follow(run_id, run.last_seq)
            elif frame.kind == "run.cancel":
                await self.engine.cancel(self.socket.tenant_id, run_id)
            else:
                raise frames.FrameError("unknown_frame_type", f"Unknown frame type {frame.kind!r}.")
        except RunError as exc:
            await self.socket.outbox.put(_error(exc.code, exc.message, run_id))
        except grpc.aio.AioRpcError as exc:
            log.warning("run frame failed at the sessions service: %s", exc.code())
            message = "The sessions service is unavailable."
            await self.socket.outbox.put(_error("unavailable", message, run_id))

    async def _create(self, run_id: str | None, fields: dict[str, Any]) -> None:
        try:
            surface = frames.named_surface(fields, "run.create", CALL_SURFACES)
        except frames.FrameError as exc:
            raise RunError(exc.code, exc.message) from None
        body, max_steps = fields.get("body"), fields.get("max_steps")
        if not isinstance(body, dict):
            raise RunError("invalid_frame", "run.create: body must be an object.")
        if len(self.socket.tasks) >= self.socket.limits.max_calls_in_flight:
            raise RunError(
                "too_many_calls",
                f"At most {self.socket.limits.max_calls_in_flight} calls and runs may be "
                "followed on a socket.",
            )
        run = await self.engine.create(
            self.socket.tenant_id,
            run_id=run_id,
            surface=surface,
            body=body,
            max_steps=max_steps,
            session_id=self.socket.session_id or "",
        )
        self._follow(run.id, 0)

    def _follow(self, run_id: str, after: int) -> None:
        key = _KEY + run_id
        if (old := self.socket.tasks.get(key)) is not None:
            old.cancel()
        self.socket.start_task(key, self._send(run_id, after))

    async def _send(self, run_id: str, after: int) -> None:
        try:
            async for event in self.engine.follow(self.socket.tenant_id, run_id, after):
                await self.socket.outbox.put(event.event.decode())
        except RunError as exc:
            await self.socket.outbox.put(_error(exc.code, exc.message, run_id))
        except grpc.aio.AioRpcError as exc:
            log.warning("following run %s failed: %s", run_id, exc.code())
            message = "The sessions service is unavailable."
            await self.socket.outbox.put(_error("unavailable", message, run_id))
        except asyncio.CancelledError:
            raise


def _error(code: str, message: str, run_id: Any) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if isinstance(run_id, str):
        frame["run_id"] = run_id
    return frames.dumps(frame)
