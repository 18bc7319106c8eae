"""Canonical events -> ``chat.completion.chunk`` stream items
(docs/protocols/openai-chat.md#streaming).

Every chunk repeats the same id, created, model and system_fingerprint, so that prefix is
serialized once at ``started`` and each chunk appends only its choices."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from rhone.dialects.base import DecodedCall
from rhone.sse import StreamItem
from rhone.v1 import generation_pb2 as gen

from .errors import error_object
from .response import chat_id, finish_name, usage_object

_DONE = StreamItem(b"[DONE]")


class ChatStreamEncoder:
    def __init__(
        self,
        decoded: DecodedCall,
        rhone_meta: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._include_usage = bool(decoded.options.get("include_usage"))
        self._rhone_meta = dict(rhone_meta)
        self._clock = clock
        self._head = b""
        # With include_usage every chunk but the usage chunk says "usage": null.
        self._tail = b',"usage":null}' if self._include_usage else b"}"
        self._tool_index: dict[int, int] = {}  # canonical part index -> chat tool_calls index
        self._text_parts: set[int] = set()
        self._usage: gen.Usage | None = None
        self._ended = False

    def encode(self, event: gen.GenerationEvent) -> list[StreamItem]:
        if self._ended:
            return []
        kind = event.WhichOneof("event")
        if kind == "failure":
            # The SDK raises on a data object with a truthy "error"; nothing may follow it.
            self._ended = True
            return [StreamItem(orjson.dumps({"error": error_object(event.failure)}))]
        items = []
        if not self._head:
            items.append(self._start(event.started if kind == "started" else gen.ResponseStarted()))
        if kind == "part_started":
            items.extend(self._part_started(event.part_started))
        elif kind == "part_delta":
            items.extend(self._part_delta(event.part_delta))
        elif kind == "usage":
            # Canonical usage precedes finished; chat's usage chunk follows the finish chunk.
            self._usage = event.usage
        elif kind == "finished":
            items.extend(self._finished(event.finished))
        return items

    def close(self) -> list[StreamItem]:
        return [_DONE]

    def _start(self, started: gen.ResponseStarted) -> StreamItem:
        head = {
            "id": chat_id(started.id),
            "object": "chat.completion.chunk",
            "created": int(self._clock()),
            "model": started.model,
            "system_fingerprint": None,
        }
        self._head = orjson.dumps(head)[:-1] + b',"choices":'
        tail = self._tail
        if self._rhone_meta:
            # The session id reaches a streaming client in the first chunk only.
            tail = tail[:-1] + b',"rhone":' + orjson.dumps(self._rhone_meta) + b"}"
        delta = {"role": "assistant", "content": "", "refusal": None}
        return StreamItem(self._head + _choices(delta, None) + tail)

    def _part_started(self, started: gen.PartStarted) -> list[StreamItem]:
        if started.kind == gen.PART_KIND_TEXT:
            self._text_parts.add(started.index)
            return []
        if started.kind != gen.PART_KIND_TOOL_CALL:
            return []  # thinking has no place in a chat stream
        index = self._tool_index[started.index] = len(self._tool_index)
        call = {
            "index": index,
            "id": started.tool_call_id,
            "type": "function",
            "function": {"name": started.tool_name, "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _part_delta(self, delta: gen.PartDelta) -> list[StreamItem]:
        which = delta.WhichOneof("delta")
        if which == "text" and delta.text and delta.index in self._text_parts:
            return [self._chunk({"content": delta.text})]
        if which == "arguments" and delta.arguments and delta.index in self._tool_index:
            call = {
                "index": self._tool_index[delta.index],
                "function": {"arguments": delta.arguments},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking, signatures and redacted data are not shown on chat

    def _finished(self, finished: gen.ResponseFinished) -> list[StreamItem]:
        self._ended = True
        reason = finish_name(finished.reason, bool(self._tool_index))
        items = [self._chunk({}, reason)]
        if self._include_usage and self._usage is not None:
            usage = orjson.dumps(usage_object(self._usage))
            items.append(StreamItem(self._head + b'[],"usage":' + usage + b"}"))
        return items

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> StreamItem:
        return StreamItem(self._head + _choices(delta, finish_reason) + self._tail)


def _choices(delta: dict[str, Any], finish_reason: str | None) -> bytes:
    return orjson.dumps(
        [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )


def stream_encoder(decoded: DecodedCall, rhone_meta: Mapping[str, Any]) -> ChatStreamEncoder:
    return ChatStreamEncoder(decoded, rhone_meta)
