"""Ending a started stream in the surface's own words when the hop below the facade breaks.

The translator ends every stream it starts with a trailer frame. A stream whose gRPC call
breaks (the translator process died, the connection dropped) or ends without that trailer
was cut off: without a last word, every SDK reports a normal end and the user takes a
truncated answer for a complete one. So the facade writes the surface's error signal itself:
an error chunk on Chat Completions, `event: error` on Anthropic Messages, `response.failed`
on Responses, an error object on Gemini and Vertex (SSE, or the last element of the JSON
array). The shapes are the dialects' own; the facade keeps only what the closing event must
repeat (the Responses object and its sequence number, whether a JSON array is open), and
whether the stream's own last event already passed (then a lost trailer changes nothing: the
answer is whole, and a JSON array is only closed)."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from rhone.dialects.base import DecodedCall, Dialect
from rhone.dialects.openai_responses.errors import response_error
from rhone.errors import Code, make_failure
from rhone.sse import StreamItem, sse_frame
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb

JSON_ARRAY = "application/json"

# What a client is told when its stream was cut off below the facade. Retryable: nothing of
# the call was recorded (a turn is committed only with its finished event).
INTERRUPTED = make_failure(
    Code.ERROR_CODE_UNAVAILABLE,
    "The answer was cut off: a Rhone service stopped in the middle of the stream. "
    "The answer is incomplete and was not recorded; retry the call.",
    detail="stream_interrupted",
)


# Bytes only a stream's own last event writes (a raw newline never occurs inside JSON, and a
# quote inside a JSON string is escaped), per surface.
_CHAT_DONE = b"data: [DONE]\n\n"
_LAST_EVENTS: dict[int, tuple[bytes, ...]] = {
    tpb.SURFACE_ANTHROPIC_MESSAGES: (b"event: message_stop\n", b"event: error\n"),
    tpb.SURFACE_OPENAI_RESPONSES: (
        b"event: response.completed\n",
        b"event: response.incomplete\n",
        b"event: response.failed\n",
        b"event: error\n",
    ),
    tpb.SURFACE_GEMINI: (b'"finishReason":', b'{"error":'),
    tpb.SURFACE_VERTEX: (b'"finishReason":', b'{"error":'),
}


class StreamEnd(Protocol):
    def observe(self, data: bytes) -> None:
        """Sees each chunk of bytes written to the client."""
        ...

    def closing(self, failure: gen.Failure) -> bytes:
        """The bytes that end the stream with `failure` (or only close its framing, when its
        own last event already passed)."""
        ...


def stream_end_for(surface: int, dialect: Dialect, content_type: str) -> StreamEnd:
    last = _LAST_EVENTS.get(surface, ())
    if surface == tpb.SURFACE_OPENAI_RESPONSES:
        return ResponsesEnd(last)
    if content_type.startswith(JSON_ARRAY):
        return JsonArrayEnd(dialect, last)
    return SseEnd(dialect, last)


def _is_last(data: bytes, markers: tuple[bytes, ...]) -> bool:
    return data.endswith(_CHAT_DONE) or any(marker in data for marker in markers)


def failure_items(dialect: Dialect, failure: gen.Failure) -> list[StreamItem]:
    """The dialect's own stream rendering of a failure (chat, Anthropic and Gemini render
    one without any earlier state)."""
    encoder = dialect.stream_encoder(DecodedCall(request=gen.GenerateRequest()), {})
    return encoder.encode(gen.GenerationEvent(failure=failure))


class SseEnd:
    def __init__(self, dialect: Dialect, last: tuple[bytes, ...]) -> None:
        self._dialect = dialect
        self._last = last
        self._done = False

    def observe(self, data: bytes) -> None:
        self._done = self._done or _is_last(data, self._last)

    def closing(self, failure: gen.Failure) -> bytes:
        if self._done:
            return b""
        return b"".join(sse_frame(item) for item in failure_items(self._dialect, failure))


class JsonArrayEnd:
    """Gemini's streamGenerateContent without `alt=sse`: one JSON array, element by element."""

    def __init__(self, dialect: Dialect, last: tuple[bytes, ...]) -> None:
        self._dialect = dialect
        self._last = last
        self._opened = False
        self._done = False
        self._closed = False

    def observe(self, data: bytes) -> None:
        self._opened = self._opened or bool(data)
        self._done = self._done or any(marker in data for marker in self._last)
        self._closed = data.endswith(b"]")

    def closing(self, failure: gen.Failure) -> bytes:
        if self._done:
            return b"" if self._closed else b"]"
        elements = b",\r\n".join(item.data for item in failure_items(self._dialect, failure))
        return (b",\r\n" if self._opened else b"[") + elements + b"]"


class ResponsesEnd:
    """`response.failed` must name the response `response.created` announced (the SDK's
    accumulator checks its identity) and carry the next `sequence_number`. The first chunk
    is parsed once for the response; later chunks are only counted (one SSE event per blank
    line: orjson never writes a raw newline)."""

    def __init__(self, last: tuple[bytes, ...]) -> None:
        self._last = last
        self._response: dict[str, Any] | None = None
        self._events = 0
        self._done = False

    def observe(self, data: bytes) -> None:
        self._events += data.count(b"\n\n")
        self._done = self._done or _is_last(data, self._last)
        if self._response is None:
            self._response = _created_response(data)

    def closing(self, failure: gen.Failure) -> bytes:
        if self._done:
            return b""
        response = dict(self._response or {})
        response.update(status="failed", error=response_error(failure))
        event = {
            "type": "response.failed",
            "sequence_number": self._events,
            "response": response,
        }
        return sse_frame(StreamItem(orjson.dumps(event), event="response.failed"))


def _created_response(data: bytes) -> dict[str, Any] | None:
    for line in data.split(b"\n"):
        if not line.startswith(b"data: "):
            continue
        try:
            event = orjson.loads(line[len(b"data: ") :])
        except orjson.JSONDecodeError:
            return None
        response = event.get("response") if isinstance(event, dict) else None
        return response if isinstance(response, dict) else None
    return None
