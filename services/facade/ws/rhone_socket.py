"""One rhone.ws.v1 connection: a socket bound to a session, running many calls over it.

Calls run concurrently, multiplexed by call_id; calls on the same session run one after the
other in the order they were created (so turns never interleave and never answer 409 to each
other). Frames out go through a byte-bounded outbox; a slow reader slows its calls down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

import grpc
import orjson
from google.protobuf import json_format
from starlette.websockets import WebSocket

from rhone.errors import RhoneError, http_status_of
from rhone.jsonutil import MAX_STRUCT_DEPTH, check_depth
from rhone.rpc_errors import failure_of_rpc
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.facade.metering import CANONICAL_SURFACE, EventTally, LimitExceeded
from services.facade.runs.socket import SocketRuns
from services.facade.state import FacadeState
from services.facade.stream_end import INTERRUPTED
from services.facade.ws import frames
from services.facade.ws.calls import (
    CALL_SURFACES,
    CallOutcome,
    proto_error,
    refused,
    run_socket_call,
)
from services.facade.ws.limits import SocketLimits
from services.facade.ws.socket_base import SocketBase

log = logging.getLogger("rhone.facade.ws")

# How long a call waits for the lease of a call cancelled just before it on the same session.
LEASE_RELEASE_WAIT_S = 5.0


class RhoneSocket(SocketBase):
    def __init__(
        self, websocket: WebSocket, state: FacadeState, tenant_id: str, limits: SocketLimits
    ) -> None:
        super().__init__(websocket, state, tenant_id, limits)
        self.session_id: str | None = None
        self._session_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._recently_cancelled: set[str] = set()
        self.runs = SocketRuns(self, state.runs)

    @property
    def calls(self) -> dict[str, asyncio.Task[None]]:
        return self.tasks

    async def handle(self, text: str) -> None:
        try:
            await self._dispatch(frames.parse_client_frame(text))
        except frames.FrameError as exc:
            await self.outbox.put(frames.protocol_error(exc.code, exc.message, exc.call_id))

    async def _dispatch(self, frame: frames.ClientFrame) -> None:
        if isinstance(frame, frames.Ping):
            await self.outbox.put(frames.pong(frame.data))
        elif isinstance(frame, frames.Bind):
            await self._bind(frame.session_id)
        elif isinstance(frame, frames.Create):
            self._create(frame)
        elif isinstance(frame, frames.RunFrame):
            await self.runs.handle(frame)
        elif isinstance(frame, frames.Cancel):
            task = self.calls.get(frame.call_id)
            if task is None:
                raise frames.FrameError(
                    "unknown_call", "No call in flight has that call_id.", call_id=frame.call_id
                )
            task.cancel()

    async def _bind(self, session_id: str | None) -> None:
        sessions = self.state.sessions
        try:
            if session_id is None:
                session = await sessions.CreateSession(
                    spb.CreateSessionRequest(tenant_id=self.tenant_id), timeout=10
                )
            else:
                session = await sessions.GetSession(
                    spb.GetSessionRequest(tenant_id=self.tenant_id, session_id=session_id),
                    timeout=10,
                )
        except grpc.aio.AioRpcError as exc:
            # session_not_found as the sessions service names it; anything else unnamed is
            # the service's trouble, not the frame's.
            failure = failure_of_rpc(exc, service="sessions")
            raise frames.FrameError(failure.detail or "unavailable", failure.message) from None
        self.session_id = session.id
        await self.outbox.put(frames.bound(session.id, created=session_id is None))

    def _create(self, frame: frames.Create) -> None:
        if frame.call_id in self.calls:
            raise frames.FrameError(
                "duplicate_call_id", "A call with that call_id is in flight.", call_id=frame.call_id
            )
        if len(self.calls) >= self.limits.max_calls_in_flight:
            raise frames.FrameError(
                "too_many_calls",
                f"At most {self.limits.max_calls_in_flight} calls may be in flight on a socket.",
                call_id=frame.call_id,
            )
        body = dict(frame.body)
        session_id = self._session_for(frame, body)
        self.start_task(
            frame.call_id,
            self._run(frame, body, session_id),
            on_cancel=lambda: self._cancelled(frame.call_id, session_id),
        )

    def _session_for(self, frame: frames.Create, body: dict[str, Any]) -> str:
        """The session the call runs on: the socket's, unless unbound (then the body's)."""
        if frame.surface == frames.CANONICAL:
            continuity = body.setdefault("continuity", {})
            if not isinstance(continuity, dict):
                raise frames.FrameError(
                    "invalid_frame", "continuity must be an object.", call_id=frame.call_id
                )
            key, holder = "session_id", continuity
        else:
            rhone = body.setdefault("rhone", {})
            if not isinstance(rhone, dict):
                raise frames.FrameError(
                    "invalid_frame", "rhone must be an object.", call_id=frame.call_id
                )
            key, holder = "session_id", rhone
        named = holder.get(key) or ""
        if self.session_id is None:
            return str(named)
        if named and named != self.session_id:
            raise frames.FrameError(
                "session_mismatch",
                "The call names another session than the one the socket is bound to.",
                call_id=frame.call_id,
            )
        holder[key] = self.session_id
        return self.session_id

    async def _run(self, frame: frames.Create, body: dict[str, Any], session_id: str) -> None:
        call_id_json = orjson.dumps(frame.call_id)

        async def emit(event: bytes) -> None:
            await self.outbox.put(frames.event_frame(call_id_json, event))

        lock = self._session_locks[session_id] if session_id else asyncio.Lock()
        async with lock:
            outcome = await self._call(frame, body, emit)
            deadline = time.monotonic() + LEASE_RELEASE_WAIT_S
            # A call cancelled just before gives its session's lease back a moment after its
            # cancellation; this socket's next call on that session waits for it rather than
            # answering 409 to its own client.
            while (
                outcome.code == "session_busy"
                and session_id in self._recently_cancelled
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.05)
                outcome = await self._call(frame, body, emit)
            self._recently_cancelled.discard(session_id)
        if outcome.ok:
            await self.outbox.put(frames.done(frame.call_id, outcome.session_id))
        else:
            await self.outbox.put(
                frames.call_error(frame.call_id, outcome.code, outcome.status, outcome.error)
            )

    async def _call(self, frame: frames.Create, body: dict[str, Any], emit: Any) -> CallOutcome:
        if frame.surface == frames.CANONICAL:
            return await self._run_canonical(body, emit)
        return await run_socket_call(
            self.state.relay,
            surface=CALL_SURFACES[frame.surface],
            tenant_id=self.tenant_id,
            body=body,
            emit=emit,
            principal=self.principal,
            metering=self.state.metering,
        )

    async def _cancelled(self, call_id: str, session_id: str) -> None:
        if session_id:
            self._recently_cancelled.add(session_id)
        await self.outbox.put(frames.cancelled(call_id))

    async def _run_canonical(self, body: dict[str, Any], emit: Any) -> CallOutcome:
        """A rhone.canonical call: a GenerateRequest in proto JSON, events in proto JSON."""
        try:
            # Its `extras` is a Struct: bounded as every Struct a client fills.
            check_depth(body, MAX_STRUCT_DEPTH)
        except RhoneError as exc:
            error = {"message": exc.failure.message, "param": exc.failure.param}
            return CallOutcome(status=400, code="invalid_request", error=error)
        try:
            request = json_format.ParseDict(
                {
                    "tenant_id": self.tenant_id,
                    "request": body.get("request", {}),
                    "continuity": body.get("continuity", {}),
                },
                tpb.TranslatorGenerateRequest(),
            )
        except (json_format.ParseError, ValueError, TypeError) as exc:
            # The parser's text names proto types: it goes to the operator's log, and the
            # client gets a clean message.
            log.info("rhone.canonical body refused: %s", exc)
            message = "The call's request or continuity is not a valid rhone.canonical body."
            return CallOutcome(status=400, code="invalid_request", error={"message": message})
        meter = None
        if (principal := self.principal) is not None:
            try:
                meter = await self.state.metering.begin(
                    principal,
                    surface=CANONICAL_SURFACE,
                    method="generate",
                    body=orjson.dumps(body),
                    model=request.request.model,
                )
            except LimitExceeded as exc:
                return refused(exc.failure, proto_error(exc.failure))
        outcome = CallOutcome()
        tally = EventTally(first_call=not request.continuity.session_id)
        ended = False
        call = self.state.translator.Generate(request)
        try:
            async for event in call:
                if event.HasField("session_id"):
                    outcome.session_id = event.session_id
                    continue
                generation = event.generation
                tally.feed(generation)
                if generation.HasField("failure"):
                    ended = True
                    return _canonical_failure(outcome.session_id, generation.failure)
                await emit(
                    orjson.dumps(
                        json_format.MessageToDict(generation, preserving_proto_field_name=True)
                    )
                )
                if generation.HasField("finished"):
                    ended = True
                    return outcome
            ended = True
        except grpc.aio.AioRpcError as exc:
            log.warning("canonical call broke: %s %s", exc.code(), exc.details())
            ended = True
        finally:
            call.cancel()
            tally.settle(meter, outcome.session_id, ended=ended)
        # Cut off below the facade, or ended without a last word: the call failed.
        return _canonical_failure(outcome.session_id, INTERRUPTED)


def _canonical_failure(session_id: str, failure: gen.Failure) -> CallOutcome:
    error = json_format.MessageToDict(failure, preserving_proto_field_name=True)
    return CallOutcome(session_id, http_status_of(failure), failure.detail or "failed", error)
