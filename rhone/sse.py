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
        self._pos = 0  # where the unread part of _buffer starts
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, text: str) -> Iterator[SseEvent]:
        # The buffer is cut once per feed, not once per line: a burst of events would
        # otherwise copy the rest of the burst for every line read.
        buffer = self._buffer[self._pos :] + text if self._pos else self._buffer + text
        self._buffer, self._pos = buffer, 0
        size = len(buffer)
        while True:
            match = _EOL.search(buffer, self._pos)
            if match is None:
                return
            end = match.end()
            if end == size and match.group() == "\r":
                return  # a CR at the end may be the first half of a CRLF
            line = buffer[self._pos : match.start()]
            self._pos = end
            event = self._line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[SseEvent]:
        rest = self._buffer[self._pos :]
        self._buffer, self._pos = "", 0
        if rest:
            event = self._line(rest)
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
