"""Server-sent events: building frames as bytes once, and reading them back line by line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One stream event a dialect produced: its SSE event name (or None) and its JSON bytes."""

    data: bytes
    event: str | None = None


def sse_frame(item: StreamItem) -> bytes:
    if item.event is None:
        return b"data: " + item.data + b"\n\n"
    return b"event: " + item.event.encode() + b"\ndata: " + item.data + b"\n\n"


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: str


class SseDecoder:
    """Incremental SSE parser (WHATWG rules): CRLF or LF line endings, comments skipped,
    multi-line data joined with newlines, one optional space after the colon stripped."""

    def __init__(self) -> None:
        self._buffer = ""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, text: str) -> Iterator[SseEvent]:
        self._buffer += text
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return
            line, rest = cut
            self._buffer = rest
            event = self._line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[SseEvent]:
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = ""
            if event is not None:
                yield event
        event = self._line("")
        if event is not None:
            yield event

    def _line(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:
                self._event = None
                return None
            event = SseEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None


_EOL = re.compile(r"\r\n|\r|\n")


def _line_end(buffer: str) -> tuple[str, str] | None:
    match = _EOL.search(buffer)
    if match is None:
        return None
    if match.group() == "\r" and match.end() == len(buffer):
        return None  # a CR at the end may be the first half of a CRLF
    return buffer[: match.start()], buffer[match.end() :]
