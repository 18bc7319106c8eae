"""Running one call of a socket through the translator, as the HTTP routes do, and turning
its frames into socket messages. Shared by rhone.ws.v1 and OpenAI's Responses WebSocket mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from google.protobuf import json_format

from rhone.dialects import anthropic_messages, gemini, openai_responses
from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.errors import RhoneError, http_status_of
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.facade.auth import Principal
from services.facade.metering import LimitExceeded, Metering
from services.facade.observe import observed_ws_call
from services.facade.relay import OpenedCall, Relay
from services.facade.stream_end import INTERRUPTED, stream_end_for

log = logging.getLogger("rhone.facade.ws")


@dataclass(frozen=True, slots=True)
class CallSurface:
    """A surface a socket call names (docs/rhone-ws-v1.md, `call.create`): the public API whose
    body and stream events the call speaks, and its dialect."""

    proto_surface: int  # the translator's Surface
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


CALL_SURFACES: dict[str, CallSurface] = {
    "openai.chat": CallSurface(tpb.SURFACE_OPENAI_CHAT, OPENAI_CHAT),
    "openai.responses": CallSurface(tpb.SURFACE_OPENAI_RESPONSES, openai_responses.DIALECT),
    "anthropic.messages": CallSurface(tpb.SURFACE_ANTHROPIC_MESSAGES, anthropic_messages.DIALECT),
    "gemini.generate_content": CallSurface(tpb.SURFACE_GEMINI, gemini.DIALECT, model_in_path=True),
    "vertex.generate_content": CallSurface(
        tpb.SURFACE_VERTEX, gemini.VERTEX_DIALECT, model_in_path=True
    ),
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
    """How a call ended: a session id on success; status, code and the surface's error body on
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
async def run_socket_call(
    relay: Relay,
    *,
    surface: CallSurface,
    tenant_id: str,
    body: dict[str, Any],
    emit: Callable[[bytes], Awaitable[None]],
    kept_previous: tpb.KeptResponse | None = None,
    principal: Principal | None = None,
    metering: Metering | None = None,
) -> CallOutcome:
    """Streams the call; `emit` receives each of the surface's own stream events as JSON bytes.
    With a principal and metering, the call is admitted against the key's limits and metered
    like an HTTP call (a refusal is the call's error, `rate_limited`)."""
    meter = None
    try:
        body, params = surface.request(body)
        method = params.get("method", "create")
        raw = orjson.dumps(body)
        if principal is not None and metering is not None:
            meter = await metering.begin(
                principal, surface=surface.proto_surface, method=method, body=raw
            )
        opened = await relay.open(
            surface=surface.proto_surface,
            method=method,
            tenant_id=tenant_id,
            body=raw,
            params=params,
            transport=tpb.TRANSPORT_WEBSOCKET,
            kept_previous=kept_previous,
        )
    except LimitExceeded as exc:
        return refused(exc.failure, surface.dialect.encode_error(exc.failure)[1])
    except RhoneError as exc:
        if meter is not None:
            meter.on_end(failure=exc.failure)
        return failed(surface.dialect, exc.failure)
    opened.observer = meter
    if meter is not None:
        meter.on_head(opened.head)
    ended = False
    try:
        outcome = await _relay_frames(surface, opened, emit)
        ended = True
        return outcome
    finally:
        opened.cancel()
        if meter is not None:
            interrupted = ended and outcome.code == INTERRUPTED.detail
            meter.on_end(failure=INTERRUPTED if interrupted else None, cancelled=not ended)


async def _relay_frames(
    surface: CallSurface, opened: OpenedCall, emit: Callable[[bytes], Awaitable[None]]
) -> CallOutcome:
    if not opened.head.stream:
        try:
            error = orjson.loads(await opened.body() or b"null")
        except RhoneError as exc:
            return failed(surface.dialect, exc.failure)
        code = opened.head.headers.get("x-rhone-error-code") or code_for(opened.head.status, error)
        return CallOutcome(status=opened.head.status, code=code, error=error)
    outcome = CallOutcome(session_id=opened.head.headers.get("x-rhone-session-id", ""))
    end = stream_end_for(surface.proto_surface, surface.dialect, opened.head.content_type)
    trailer: tpb.CallTrailer | None = None
    try:
        async for frame in opened.frames():
            if frame.HasField("data"):
                end.observe(frame.data)
                for line in _lines(frame.data):
                    await emit(line)
            elif frame.HasField("trailer"):
                trailer = frame.trailer  # the stream's closing events may follow
    except grpc.aio.AioRpcError as exc:
        log.warning("socket call from translator broke: %s %s", exc.code(), exc.details())
    if trailer is not None:
        if trailer.HasField("failure"):
            return failed(surface.dialect, trailer.failure)
        if trailer.HasField("kept"):
            outcome.kept = trailer.kept
        return outcome
    # Cut off below the facade (no trailer). A whole answer whose trailer was lost is done;
    # anything else failed, and says so in the surface's own event first.
    if end.whole:
        return outcome
    for item in end.closing_items(INTERRUPTED):
        await emit(item.data)
    return failed(surface.dialect, INTERRUPTED)


def refused(failure: gen.Failure, error: Any) -> CallOutcome:
    """A call the key's limits refused: `rate_limited` (or the budget's own code)."""
    code = "rate_limited" if failure.detail == "rate_limit_exceeded" else failure.detail
    return CallOutcome(status=http_status_of(failure), code=code or "rate_limited", error=error)


def proto_error(failure: gen.Failure) -> Any:
    """A failure as a rhone.canonical call shows it (proto JSON)."""
    return json_format.MessageToDict(failure, preserving_proto_field_name=True)


def failed(dialect: Dialect, failure: gen.Failure) -> CallOutcome:
    status, error = dialect.encode_error(failure)
    return CallOutcome(
        status=status or http_status_of(failure),
        code=failure.detail or code_for(status, error),
        error=error,
    )


def _lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line]
