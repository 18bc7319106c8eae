"""Messages SSE events from api.anthropic.com -> the canonical event stream.

What the wire does and the canonical stream must not: usage is split between ``message_start``
(input and cache counts) and ``message_delta`` (cumulative output, sometimes input again), so
it is collected and sent as one usage event at ``message_stop``; a ``signature_delta`` replaces
the signature (SDK accumulator), so the last one is sent, once, when the block stops; and a
stream that ends without ``message_stop`` was cut, which must fail rather than pass for a
short answer. Blocks Rhone has no canonical form for (server tool use and its results) are
skipped, and the parts that remain are renumbered 0, 1, 2..."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rhone import canonical as ev
from rhone.errors import make_failure
from rhone.jsonutil import compact_json
from rhone.v1 import generation_pb2 as gen

from .errors import stream_failure
from .messages import PROVIDER
from .response import canonical_usage, count, finish_reason, text

Events = list[gen.GenerationEvent]


@dataclass(slots=True)
class _Open:
    index: int
    kind: int
    # tool_use: the input the start carried, sent only if no input_json_delta follows.
    start_input: str = ""
    streamed_input: bool = False
    signature: str = ""


class MessagesStreamDecoder:
    def __init__(self) -> None:
        self._started = False
        self._ended = False
        self._blocks: dict[Any, _Open] = {}
        self._parts = 0
        self._input = self._output = self._cache_read = self._cache_creation = 0
        self._reason: gen.FinishReason = gen.FINISH_REASON_UNSPECIFIED
        self._stop_sequence = ""
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Events]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def feed(self, event: str | None, data: Mapping[str, Any]) -> Events:
        if self._ended:
            return []
        # The SDK fills a missing JSON "type" from the event name; the reverse holds too.
        name = event or data.get("type")
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            return []  # ping, and event kinds newer than this codec
        if name in ("message_start", "error"):
            return handler(data)
        return self._ensure_started() + handler(data)

    def close(self) -> Events:
        if self._ended:
            return []
        self._ended = True
        failure = make_failure(
            gen.ERROR_CODE_INTERNAL, "upstream stream ended early", retryable=True
        )
        return [ev.failed(failure)]

    def _ensure_started(self) -> Events:
        return [] if self._started else self._message_start({})

    def _message_start(self, data: Mapping[str, Any]) -> Events:
        if self._started:
            return []
        self._started = True
        message = _object(data.get("message"))
        self._read_usage(_object(message.get("usage")))
        return [ev.started(text(message.get("id")), text(message.get("model")), PROVIDER)]

    def _block_start(self, data: Mapping[str, Any]) -> Events:
        block = _object(data.get("content_block"))
        kind = block.get("type")
        index = self._parts
        if kind == "text":
            opened = _Open(index, gen.PART_KIND_TEXT)
            events = [ev.part_started(index, gen.PART_KIND_TEXT)]
            if text(block.get("text")):
                events.append(ev.text_delta(index, block["text"]))
        elif kind == "tool_use":
            opened = _Open(index, gen.PART_KIND_TOOL_CALL)
            start_input = block.get("input")
            if isinstance(start_input, dict) and start_input:
                opened.start_input = compact_json(start_input)
            tool_id, name = text(block.get("id")), text(block.get("name"))
            events = [ev.part_started(index, gen.PART_KIND_TOOL_CALL, tool_id, name)]
        elif kind == "thinking":
            opened = _Open(index, gen.PART_KIND_THINKING, signature=text(block.get("signature")))
            events = [ev.part_started(index, gen.PART_KIND_THINKING)]
            if text(block.get("thinking")):
                events.append(ev.thinking_delta(index, block["thinking"]))
        elif kind == "redacted_thinking":
            opened = _Open(index, gen.PART_KIND_REDACTED_THINKING)
            events = [
                ev.part_started(index, gen.PART_KIND_REDACTED_THINKING),
                ev.redacted_delta(index, text(block.get("data"))),
            ]
        else:
            return []
        self._blocks[_key(data)] = opened
        self._parts += 1
        return events

    def _block_delta(self, data: Mapping[str, Any]) -> Events:
        opened = self._blocks.get(_key(data))
        if opened is None:
            return []
        delta = _object(data.get("delta"))
        kind, index = delta.get("type"), opened.index
        if kind == "text_delta" and opened.kind == gen.PART_KIND_TEXT:
            return [ev.text_delta(index, text(delta.get("text")))]
        if kind == "input_json_delta" and opened.kind == gen.PART_KIND_TOOL_CALL:
            opened.streamed_input = True
            fragment = text(delta.get("partial_json"))
            # The first fragment is often "" (docs/protocols/anthropic-messages.md#streaming); it
            # adds nothing.
            return [ev.arguments_delta(index, fragment)] if fragment else []
        if kind == "thinking_delta" and opened.kind == gen.PART_KIND_THINKING:
            return [ev.thinking_delta(index, text(delta.get("thinking")))]
        if kind == "signature_delta" and opened.kind == gen.PART_KIND_THINKING:
            opened.signature = text(delta.get("signature"))
        return []  # citations_delta and anything newer: no canonical form

    def _block_stop(self, data: Mapping[str, Any]) -> Events:
        opened = self._blocks.pop(_key(data), None)
        return [] if opened is None else _finish(opened)

    def _message_delta(self, data: Mapping[str, Any]) -> Events:
        delta = _object(data.get("delta"))
        self._reason = finish_reason(delta.get("stop_reason"))
        self._stop_sequence = text(delta.get("stop_sequence"))
        self._read_usage(_object(data.get("usage")))
        return []

    def _message_stop(self, data: Mapping[str, Any]) -> Events:
        events = [event for opened in self._blocks.values() for event in _finish(opened)]
        self._blocks.clear()
        usage = canonical_usage(self._input, self._output, self._cache_read, self._cache_creation)
        events.append(gen.GenerationEvent(usage=usage))
        events.append(ev.finished(self._reason, self._stop_sequence))
        self._ended = True
        return events

    def _error(self, data: Mapping[str, Any]) -> Events:
        self._ended = True
        return [ev.failed(stream_failure(data.get("error")))]

    def _read_usage(self, usage: Mapping[str, Any]) -> None:
        # Counts are cumulative; a null or absent one leaves the last value (SDK accumulator).
        if usage.get("input_tokens") is not None:
            self._input = count(usage["input_tokens"])
        if usage.get("output_tokens") is not None:
            self._output = count(usage["output_tokens"])
        if usage.get("cache_read_input_tokens") is not None:
            self._cache_read = count(usage["cache_read_input_tokens"])
        if usage.get("cache_creation_input_tokens") is not None:
            self._cache_creation = count(usage["cache_creation_input_tokens"])


def _finish(opened: _Open) -> Events:
    events = []
    if opened.start_input and not opened.streamed_input:
        events.append(ev.arguments_delta(opened.index, opened.start_input))
    if opened.signature:
        events.append(ev.signature_delta(opened.index, opened.signature))
    events.append(ev.part_finished(opened.index))
    return events


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _key(data: Mapping[str, Any]) -> Any:
    index = data.get("index")
    return index if isinstance(index, int) else None


def stream_decoder() -> MessagesStreamDecoder:
    return MessagesStreamDecoder()
