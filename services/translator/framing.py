"""How a stream's items become bytes on the wire.

SSE for every surface that streams over HTTP; Gemini's other stream form: without `alt=sse`,
streamGenerateContent answers one JSON array whose elements arrive one by one (`[{...}` then
`,\r\n{...}` ... then `]`); and for WebSocket calls, one JSON event per line, which the facade
wraps into one WebSocket message per event (orjson never writes a raw newline inside JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rhone.sse import StreamItem, sse_frame


class Framer(Protocol):
    content_type: str

    def frame(self, items: Sequence[StreamItem]) -> bytes: ...

    def close(self) -> bytes: ...


class SseFramer:
    content_type = "text/event-stream"

    def frame(self, items: Sequence[StreamItem]) -> bytes:
        return b"".join(sse_frame(item) for item in items)

    def close(self) -> bytes:
        return b""


class JsonArrayFramer:
    content_type = "application/json"

    def __init__(self) -> None:
        self._opened = False

    def frame(self, items: Sequence[StreamItem]) -> bytes:
        out = bytearray()
        for item in items:
            out += b",\r\n" if self._opened else b"["
            self._opened = True
            out += item.data
        return bytes(out)

    def close(self) -> bytes:
        return b"]" if self._opened else b"[]"


class WebSocketFramer:
    content_type = "application/x-ndjson"

    def frame(self, items: Sequence[StreamItem]) -> bytes:
        # Chat's `[DONE]` sentinel is SSE framing, not an event: a socket ends a call with its
        # own terminal frame instead.
        return b"".join(item.data + b"\n" for item in items if item.data != b"[DONE]")

    def close(self) -> bytes:
        return b""
