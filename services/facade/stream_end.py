"""Ending a started stream in the surface's own words when the hop below the facade breaks.

The translator ends every stream it starts with a trailer frame. A stream whose gRPC call
breaks (the translator process died, the connection dropped) or ends without that trailer
was cut off: without a last word, every SDK reports a normal end and the user takes a
truncated answer for a complete one. So the facade writes the surface's error signal itself:
an error chunk on Chat Completions, `event: error` on Anthropic Messages, `response.failed`
on Responses, an error object on Gemini and Vertex (SSE, or the last element of the JSON
array), and the same events on a socket. The shapes are the dialects' own; the facade keeps
only what the closing event must repeat (the Responses object and its sequence number,
whether a JSON array is open), and whether the stream's own last event already passed: then
a lost trailer changes nothing (the answer is whole and recorded; a JSON array is closed)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson

from rhone.dialects.base import DecodedCall, Dialect
from rhone.dialects.openai_responses.errors import response_error
from rhone.errors import Code, make_failure
from rhone.sse import StreamItem, sse_frame
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb

# What a client is told when its stream was cut off below the facade. Retryable: nothing of
# the call was recorded (a turn is committed only with its finished event).
INTERRUPTED = make_failure(
    Code.ERROR_CODE_UNAVAILABLE,
    "The answer was cut off: a Rhone service stopped in the middle of the stream. "
    "The answer is incomplete and was not recorded; retry the call.",
    detail="stream_interrupted",
)


class Framing(Enum):
    SSE = "text/event-stream"
    JSON_ARRAY = "application/json"  # Gemini's streamGenerateContent without alt=sse
    LINES = "application/x-ndjson"  # one event per line, for the sockets

    @classmethod
    def of(cls, content_type: str) -> Framing:
        for framing in cls:
            if content_type.startswith(framing.value):
                return framing
        return cls.SSE


# JSON only a stream's last event holds, per surface: (a whole answer's, a failure's). A
# quote inside a JSON string is escaped, so text that quotes these never matches.
_ERROR = b'{"error":'
_TYPE_ERROR = b'"type":"error"'
_LAST_EVENTS: dict[int, tuple[tuple[bytes, ...], tuple[bytes, ...]]] = {
    tpb.SURFACE_OPENAI_CHAT: ((b'"finish_reason":"',), (_ERROR,)),
    tpb.SURFACE_ANTHROPIC_MESSAGES: ((b'"type":"message_stop"',), (_TYPE_ERROR,)),
    tpb.SURFACE_OPENAI_RESPONSES: (
        (b'"type":"response.completed"', b'"type":"response.incomplete"'),
        (b'"type":"response.failed"', _TYPE_ERROR),
    ),
    tpb.SURFACE_GEMINI: ((b'"finishReason":',), (_ERROR,)),
    tpb.SURFACE_VERTEX: ((b'"finishReason":',), (_ERROR,)),
}


class StreamEnd:
    """Watches the bytes of one stream as they are written; says how to end it."""

    def __init__(self, surface: int, dialect: Dialect, framing: Framing) -> None:
        self._surface = surface
        self._dialect = dialect
        self._framing = framing
        self._whole, self._failed = _LAST_EVENTS.get(surface, ((), ()))
        self._opened = False
        self._closed = False
        # The stream's own last event passed: a whole answer, or a failure it reported.
        self.whole = False
        self.failed = False
        # Responses only: the response `response.created` announced, and the events so far.
        self._response: dict[str, Any] | None = None
        self._events = 0

    def observe(self, data: bytes) -> None:
        """Sees each chunk of bytes written to the client."""
        self._opened = self._opened or bool(data)
        self._closed = self._framing is Framing.JSON_ARRAY and data.endswith(b"]")
        if not self.done:
            self.whole = any(marker in data for marker in self._whole)
            self.failed = any(marker in data for marker in self._failed)
        if self._surface == tpb.SURFACE_OPENAI_RESPONSES:
            self._events += data.count(b"\n\n" if self._framing is Framing.SSE else b"\n")
            if self._response is None:
                self._response = _first_response(data)

    @property
    def done(self) -> bool:
        return self.whole or self.failed

    def closing_items(self, failure: gen.Failure) -> list[StreamItem]:
        """The events that end the stream with `failure`: none when it already ended."""
        if self.done:
            return []
        if self._surface == tpb.SURFACE_OPENAI_RESPONSES:
            return [self._response_failed(failure)]
        encoder = self._dialect.stream_encoder(DecodedCall(request=gen.GenerateRequest()), {})
        return encoder.encode(gen.GenerationEvent(failure=failure))

    def closing(self, failure: gen.Failure) -> bytes:
        """The bytes that end the stream with `failure`, in its framing."""
        items = self.closing_items(failure)
        if self._framing is Framing.SSE:
            return b"".join(sse_frame(item) for item in items)
        if self._framing is Framing.LINES:
            return b"".join(item.data + b"\n" for item in items)
        if not items:
            return b"" if self._closed or not self._opened else b"]"
        elements = b",\r\n".join(item.data for item in items)
        return (b",\r\n" if self._opened else b"[") + elements + b"]"

    def _response_failed(self, failure: gen.Failure) -> StreamItem:
        """`response.failed` names the response `response.created` announced (the SDK's
        accumulator checks its identity) at the next `sequence_number`."""
        response = dict(self._response or {})
        response.update(status="failed", error=response_error(failure))
        event = {"type": "response.failed", "sequence_number": self._events, "response": response}
        return StreamItem(orjson.dumps(event), event="response.failed")


def stream_end_for(surface: int, dialect: Dialect, content_type: str) -> StreamEnd:
    return StreamEnd(surface, dialect, Framing.of(content_type))


def _first_response(data: bytes) -> dict[str, Any] | None:
    """The `response` object of the first event in `data` (`response.created`)."""
    for line in data.split(b"\n"):
        payload = line[len(b"data: ") :] if line.startswith(b"data: ") else line
        if not payload.startswith(b"{"):
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        response = event.get("response") if isinstance(event, dict) else None
        return response if isinstance(response, dict) else None
    return None
