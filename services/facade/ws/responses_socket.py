"""OpenAI's Responses WebSocket mode on `GET /v1/responses`
(docs/protocols/openai-responses.md#websocket-mode).

Client frames are `response.create` (the HTTP create body plus `type` and an optional
`stream_id` lane). Server frames are the same event objects as the SSE stream, one per
message; with a `stream_id`, every event echoes it. Same lane: first in, first out; different
lanes run concurrently. Errors are the nested WebSocket error event
`{"type":"error","status":..,"error":{type,code,message,param}}`. The socket keeps its
`store: false` responses in memory (kept_responses.py) so that `previous_response_id` continues
them on this socket, and only on it."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

import orjson
from starlette.websockets import WebSocket

from rhone.errors import RhoneError
from rhone.jsonutil import MAX_JSON_DEPTH, check_depth
from services.facade.state import FacadeState
from services.facade.ws import frames
from services.facade.ws.calls import CALL_SURFACES, run_socket_call
from services.facade.ws.kept_responses import KeptResponses
from services.facade.ws.limits import SocketLimits
from services.facade.ws.socket_base import SocketBase

RESPONSES = CALL_SURFACES["openai.responses"]


def ws_error(
    status: int, error: dict[str, Any], stream_id: str | None, code: str | None = None
) -> str:
    nested = {"type": "invalid_request_error", "code": code, "message": "", "param": None, **error}
    # Open Responses' WebSocketErrorEvent requires a string code: an error without its own
    # reason (an HTTP-shaped error whose `code` is null) is named by its type.
    nested["code"] = nested["code"] or nested["type"]
    frame: dict[str, Any] = {"type": "error", "status": status, "error": nested}
    if stream_id is not None:
        frame["stream_id"] = stream_id
    return frames.dumps(frame)


def with_stream_id(event: bytes, stream_id_json: bytes | None) -> str:
    """Adds `"stream_id"` to an event object by splicing bytes (no re-parse per event)."""
    if stream_id_json is None:
        return event.decode()
    return (event[:-1] + b',"stream_id":' + stream_id_json + b"}").decode()


class ResponsesSocket(SocketBase):
    def __init__(
        self, websocket: WebSocket, state: FacadeState, tenant_id: str, limits: SocketLimits
    ) -> None:
        super().__init__(websocket, state, tenant_id, limits)
        self._lanes: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._started = itertools.count()
        self._kept = KeptResponses(limits.max_kept_responses, limits.max_kept_bytes)

    async def handle(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.outbox.put(ws_error(400, {"message": "Frames must be JSON."}, None))
            return
        if not isinstance(frame, dict) or frame.get("type") != "response.create":
            kind = frame.get("type") if isinstance(frame, dict) else None
            await self.outbox.put(
                ws_error(400, {"message": f"Unknown event type {kind!r}."}, None, "unknown_event")
            )
            return
        try:
            check_depth(frame, MAX_JSON_DEPTH, text)
        except RhoneError as exc:
            await self.outbox.put(ws_error(400, {"message": exc.failure.message}, None))
            return
        stream_id = frame.get("stream_id")
        if stream_id is not None and not isinstance(stream_id, str):
            await self.outbox.put(ws_error(400, {"message": "stream_id must be a string."}, None))
            return
        if len(self.tasks) >= self.limits.max_calls_in_flight:
            message = f"At most {self.limits.max_calls_in_flight} responses may be in flight."
            await self.outbox.put(
                ws_error(429, {"message": message}, stream_id, "websocket_stream_limit_reached")
            )
            return
        body = {k: v for k, v in frame.items() if k not in ("type", "stream_id", "background")}
        self.start_task(f"response-{next(self._started)}", self._run(body, stream_id))

    async def _run(self, body: dict[str, Any], stream_id: str | None) -> None:
        stream_id_json = orjson.dumps(stream_id) if stream_id is not None else None

        async def emit(event: bytes) -> None:
            await self.outbox.put(with_stream_id(event, stream_id_json))

        previous = body.get("previous_response_id")
        async with self._lanes[stream_id or ""]:
            outcome = await run_socket_call(
                self.state.relay,
                surface=RESPONSES,
                tenant_id=self.tenant_id,
                body=body,
                emit=emit,
                kept_previous=self._kept.get(previous),
                principal=self.principal,
                metering=self.state.metering,
            )
        if outcome.kept is not None:
            self._kept.put(outcome.kept)
        if not outcome.ok:
            # As OpenAI does: a failed continuation drops the state it continued from, so the
            # client resends the full context instead of building on a state that failed.
            self._kept.evict(previous)
        if not outcome.ok and outcome.error is not None:
            error = outcome.error.get("error", {}) if isinstance(outcome.error, dict) else {}
            if error.get("code") == "response_not_found":
                error = {**error, "code": "previous_response_not_found"}
            await self.outbox.put(ws_error(outcome.status, error, stream_id))
