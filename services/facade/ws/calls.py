"""Running one call of a socket through the translator, as the HTTP routes do, and turning
its frames into socket messages. Shared by rhone.ws.v1 and OpenAI's Responses WebSocket mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from rhone.dialects import anthropic_messages, openai_responses
from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.errors import RhoneError, http_status_of
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.facade.observe import observed_ws_call
from services.facade.relay import Relay


@dataclass(frozen=True, slots=True)
class Shape:
    surface: int
    dialect: Dialect


SHAPES: dict[str, Shape] = {
    "openai.chat": Shape(tpb.SURFACE_OPENAI_CHAT, OPENAI_CHAT),
    "openai.responses": Shape(tpb.SURFACE_OPENAI_RESPONSES, openai_responses.DIALECT),
    "anthropic.messages": Shape(tpb.SURFACE_ANTHROPIC_MESSAGES, anthropic_messages.DIALECT),
}

_CODES = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


def code_for(status: int, body: Any = None) -> str:
    """A stable error code: the surface's own detail when it names one (session_busy,
    model_not_found), else one derived from the HTTP status."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str) and error["code"]:
            return str(error["code"])
    if status >= 500:
        return "upstream_error" if status in (502, 503, 504, 529) else "internal"
    return _CODES.get(status, "invalid_request")


@dataclass(slots=True)
class CallOutcome:
    """How a call ended: a session id on success; status, code and the shape's error body on
    failure."""

    session_id: str = ""
    status: int = 0
    code: str = ""
    error: Any = None
    # A `store: false` Responses call's context, for the socket to keep.
    kept: tpb.KeptResponse | None = None

    @property
    def ok(self) -> bool:
        return not self.code


@observed_ws_call
async def run_shaped_call(
    relay: Relay,
    *,
    shape: Shape,
    tenant_id: str,
    body: dict[str, Any],
    emit: Callable[[bytes], Awaitable[None]],
    kept_previous: tpb.KeptResponse | None = None,
) -> CallOutcome:
    """Streams the call; `emit` receives each of the shape's own stream events as JSON bytes."""
    body = {**body, "stream": True}
    try:
        opened = await relay.open(
            surface=shape.surface,
            method="create",
            tenant_id=tenant_id,
            body=orjson.dumps(body),
            framing=tpb.FRAMING_WEBSOCKET,
            kept_previous=kept_previous,
        )
    except RhoneError as exc:
        return failed(shape.dialect, exc.failure)
    try:
        if not opened.head.stream:
            error = orjson.loads(await opened.body() or b"null")
            code = opened.head.headers.get("x-rhone-error-code") or code_for(
                opened.head.status, error
            )
            return CallOutcome(status=opened.head.status, code=code, error=error)
        outcome = CallOutcome(session_id=opened.head.headers.get("x-rhone-session-id", ""))
        async for frame in opened.frames():
            if frame.HasField("data"):
                for line in _lines(frame.data):
                    await emit(line)
            elif frame.HasField("trailer"):
                if frame.trailer.HasField("failure"):
                    return failed(shape.dialect, frame.trailer.failure)
                if frame.trailer.HasField("kept"):
                    outcome.kept = frame.trailer.kept
        return outcome
    finally:
        opened.cancel()


def failed(dialect: Dialect, failure: gen.Failure) -> CallOutcome:
    status, error = dialect.encode_error(failure)
    return CallOutcome(
        status=status or http_status_of(failure),
        code=failure.detail or code_for(status, error),
        error=error,
    )


def _lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line]
