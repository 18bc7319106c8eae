"""Running one call of a socket through the translator, as the HTTP routes do, and turning
its frames into socket messages. Shared by rhone.ws.v1 and OpenAI's Responses WebSocket mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import orjson

from rhone.dialects import anthropic_messages, gemini, openai_responses
from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.errors import RhoneError, http_status_of
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.facade.relay import Relay
from services.facade.stream_end import INTERRUPTED, stream_end_for

log = logging.getLogger("rhone.facade.ws")


@dataclass(frozen=True, slots=True)
class Shape:
    surface: int
    dialect: Dialect
    # Google's surfaces name the model and the streaming method in the URL, not the body: the
    # socket body carries the model as a `model` field (GenerateContentRequest has one), and
    # the call goes to the translator as an HTTP `streamGenerateContent?alt=sse` would.
    model_in_path: bool = False

    def request(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The body and URL parameters the translator gets for a socket call's body."""
        if not self.model_in_path:
            return {**body, "stream": True}, {}
        body = dict(body)
        model = body.pop("model", None)
        if not isinstance(model, str) or not model:
            raise RhoneError.invalid("model must be a non-empty string.", param="model")
        return body, {"model": model, "method": "streamGenerateContent", "alt": "sse"}


SHAPES: dict[str, Shape] = {
    "openai.chat": Shape(tpb.SURFACE_OPENAI_CHAT, OPENAI_CHAT),
    "openai.responses": Shape(tpb.SURFACE_OPENAI_RESPONSES, openai_responses.DIALECT),
    "anthropic.messages": Shape(tpb.SURFACE_ANTHROPIC_MESSAGES, anthropic_messages.DIALECT),
    "gemini.generate_content": Shape(tpb.SURFACE_GEMINI, gemini.DIALECT, model_in_path=True),
    "vertex.generate_content": Shape(tpb.SURFACE_VERTEX, gemini.VERTEX_DIALECT, model_in_path=True),
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
    try:
        body, params = shape.request(body)
        opened = await relay.open(
            surface=shape.surface,
            method=params.get("method", "create"),
            tenant_id=tenant_id,
            body=orjson.dumps(body),
            params=params,
            framing=tpb.FRAMING_WEBSOCKET,
            kept_previous=kept_previous,
        )
    except RhoneError as exc:
        return failed(shape.dialect, exc.failure)
    try:
        if not opened.head.stream:
            try:
                error = orjson.loads(await opened.body() or b"null")
            except RhoneError as exc:
                return failed(shape.dialect, exc.failure)
            code = opened.head.headers.get("x-rhone-error-code") or code_for(
                opened.head.status, error
            )
            return CallOutcome(status=opened.head.status, code=code, error=error)
        outcome = CallOutcome(session_id=opened.head.headers.get("x-rhone-session-id", ""))
        end = stream_end_for(shape.surface, shape.dialect, opened.head.content_type)
        try:
            async for frame in opened.frames():
                if frame.HasField("data"):
                    end.observe(frame.data)
                    for line in _lines(frame.data):
                        await emit(line)
                elif frame.HasField("trailer"):
                    if frame.trailer.HasField("failure"):
                        return failed(shape.dialect, frame.trailer.failure)
                    if frame.trailer.HasField("kept"):
                        outcome.kept = frame.trailer.kept
                    return outcome
        except grpc.aio.AioRpcError as exc:
            log.warning("socket call from translator broke: %s %s", exc.code(), exc.details())
        # Cut off below the facade (no trailer). A whole answer whose trailer was lost is
        # done; anything else failed, and says so in the shape's own event first.
        if end.whole:
            return outcome
        for item in end.closing_items(INTERRUPTED):
            await emit(item.data)
        return failed(shape.dialect, INTERRUPTED)
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
