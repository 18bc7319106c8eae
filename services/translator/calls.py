"""A public-surface call, end to end: decode the body with the surface's dialect, run the turn,
and stream back ready-to-write frames: first the head (status, headers), then bytes.

Failures before the first generated event are a plain HTTP error in the surface's shape (every
SDK maps status codes to its exception classes only then); after it, the dialect renders them
inside the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from rhone.canonical import StreamAccumulator
from rhone.dialects.base import DecodedCall, Dialect
from rhone.errors import Code, RhoneError, make_failure
from rhone.jsonutil import loads_object
from rhone.sse import sse_frame
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.translator.continuity import parse_continuity
from services.translator.surfaces import dialect_for
from services.translator.turns import OpenTurn, TurnRunner

JSON = "application/json"
SSE = "text/event-stream"


def head(status: int, content_type: str, headers: dict[str, str] | None = None) -> tpb.CallFrame:
    return tpb.CallFrame(
        head=tpb.CallHead(status=status, content_type=content_type, headers=headers or {})
    )


def data(payload: bytes) -> tpb.CallFrame:
    return tpb.CallFrame(data=payload)


def error_frames(
    dialect: Dialect, failure: gen.Failure, headers: dict[str, str] | None = None
) -> list[tpb.CallFrame]:
    status, body = dialect.encode_error(failure)
    return [head(status, JSON, headers), data(orjson.dumps(body))]


class CallHandler:
    def __init__(self, runner: TurnRunner) -> None:
        self.runner = runner

    async def call(self, request: tpb.CallRequest) -> AsyncIterator[tpb.CallFrame]:
        dialect = dialect_for(request.surface)
        if dialect is None:
            raise ValueError(f"unsupported surface {request.surface}")
        try:
            body = loads_object(request.body)
            continuity = parse_continuity(body.pop("rhone", None))
            decoded = dialect.decode_request(body, request.params)
            turn = await self.runner.open(request.tenant_id, decoded.request, continuity)
        except RhoneError as exc:
            for frame in error_frames(dialect, exc.failure):
                yield frame
            return
        frames = (
            self._stream(dialect, decoded, turn)
            if decoded.stream
            else self._whole(dialect, decoded, turn)
        )
        try:
            async for frame in frames:
                yield frame
        finally:
            await turn.release()

    async def _stream(
        self, dialect: Dialect, decoded: DecodedCall, turn: OpenTurn
    ) -> AsyncIterator[tpb.CallFrame]:
        headers = {"x-rhone-session-id": turn.session_id}
        events = turn.events()
        first = await anext(events, None)
        if first is None or first.HasField("failure"):
            failure = first.failure if first is not None else _no_answer()
            for frame in error_frames(dialect, failure, headers):
                yield frame
            return
        yield head(200, SSE, {**headers, "cache-control": "no-cache"})
        encoder = dialect.stream_encoder(decoded, {"session_id": turn.session_id})
        yield data(b"".join(sse_frame(item) for item in encoder.encode(first)))
        async for event in events:
            items = encoder.encode(event)
            if items:
                yield data(b"".join(sse_frame(item) for item in items))
        closing = encoder.close()
        if closing:
            yield data(b"".join(sse_frame(item) for item in closing))

    async def _whole(
        self, dialect: Dialect, decoded: DecodedCall, turn: OpenTurn
    ) -> AsyncIterator[tpb.CallFrame]:
        headers = {"x-rhone-session-id": turn.session_id}
        accumulator = StreamAccumulator()
        async for event in turn.events():
            accumulator.feed(event)
        if accumulator.failure is not None or turn.committed is None:
            for frame in error_frames(dialect, accumulator.failure or _no_answer(), headers):
                yield frame
            return
        body = dialect.encode_response(accumulator.result(), {"session_id": turn.session_id})
        yield head(200, JSON, headers)
        yield data(orjson.dumps(body))


def _no_answer() -> gen.Failure:
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE, "The provider ended the call without an answer."
    )
