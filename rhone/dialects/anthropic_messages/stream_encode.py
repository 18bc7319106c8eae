"""The canonical event stream -> Messages SSE events, for clients of ``/v1/messages``.

The SDK dispatches on the SSE event name (unknown names are dropped) and indexes its snapshot's
``content`` list by the block ``index``, so every event name equals its JSON ``type`` and block
indexes are the canonical part indexes renumbered 0, 1, 2... in order. Two canonical deltas do
not map one to one: the SDK *replaces* a thinking block's signature on each ``signature_delta``
while canonical signatures concatenate, so the signature is sent once, whole, just before the
block stops (where Anthropic sends it); and redacted thinking has no delta on the wire, so its
data is buffered and the block is started, with the data, when the part finishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rhone.dialects.base import DecodedCall
from rhone.jsonutil import dumps
from rhone.sse import StreamItem
from rhone.v1 import generation_pb2 as gen

from .errors import error_body, surface_status
from .response import message_id, stop_reason, wire_usage


@dataclass(slots=True)
class _Block:
    index: int
    kind: int
    signature: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    open: bool = True


def _item(payload: dict[str, Any]) -> StreamItem:
    return StreamItem(data=dumps(payload), event=payload["type"])


class MessagesStreamEncoder:
    def __init__(self, decoded: DecodedCall, rhone_meta: Mapping[str, Any]) -> None:
        self._model = decoded.request.model
        self._meta = dict(rhone_meta)
        self._started = False
        self._done = False
        self._blocks: dict[int, _Block] = {}
        self._usage: gen.Usage | None = None

    def encode(self, event: gen.GenerationEvent) -> list[StreamItem]:
        if self._done:
            return []
        kind = event.WhichOneof("event")
        if kind == "failure":
            self._done = True
            failure = event.failure
            return [_item(error_body(surface_status(failure), failure.message))]
        if kind == "started":
            if self._started:
                return []
            return self._message_start(event.started.id, event.started.model)
        # A stream that skipped `started` still owes the client a message_start first.
        items = [] if self._started else self._message_start("", "")
        if kind == "part_started":
            items += self._block_start(event.part_started)
        elif kind == "part_delta":
            items += self._block_delta(event.part_delta)
        elif kind == "part_finished":
            block = self._blocks.get(event.part_finished.index)
            if block is not None:
                items += self._block_stop(block)
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "finished":
            items += self._message_end(event.finished)
        return items

    def close(self) -> list[StreamItem]:
        return []

    def _message_start(self, response_id: str, model: str) -> list[StreamItem]:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(response_id),
            "type": "message",
            "role": "assistant",
            "model": model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Canonical usage arrives only at the end; message_delta carries the real counts.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        if self._meta:
            message["rhone"] = self._meta
        return [_item({"type": "message_start", "message": message}), _item({"type": "ping"})]

    def _block_start(self, started: gen.PartStarted) -> list[StreamItem]:
        block = _Block(index=len(self._blocks), kind=started.kind)
        self._blocks[started.index] = block
        if started.kind == gen.PART_KIND_TOOL_CALL:
            start: dict[str, Any] = {
                "type": "tool_use",
                "id": started.tool_call_id,
                "name": started.tool_name,
                "input": {},
            }
        elif started.kind == gen.PART_KIND_THINKING:
            start = {"type": "thinking", "thinking": "", "signature": ""}
        elif started.kind == gen.PART_KIND_REDACTED_THINKING:
            return []  # started at part_finished, once the data is known
        else:
            start = {"type": "text", "text": ""}
        return [self._block_event("content_block_start", block, content_block=start)]

    def _block_delta(self, delta: gen.PartDelta) -> list[StreamItem]:
        block = self._blocks.get(delta.index)
        if block is None or not block.open:
            return []
        which = delta.WhichOneof("delta")
        kind = block.kind
        if which == "text" and kind not in _NON_TEXT:
            wire = {"type": "text_delta", "text": delta.text}
        elif which == "arguments" and kind == gen.PART_KIND_TOOL_CALL:
            wire = {"type": "input_json_delta", "partial_json": delta.arguments}
        elif which == "thinking" and kind == gen.PART_KIND_THINKING:
            wire = {"type": "thinking_delta", "thinking": delta.thinking}
        elif which == "signature" and kind == gen.PART_KIND_THINKING:
            block.signature.append(delta.signature)
            return []
        elif which == "redacted_data" and kind == gen.PART_KIND_REDACTED_THINKING:
            block.data.append(delta.redacted_data)
            return []
        else:
            # A tool call's signature (Gemini's) or a delta that does not fit its block: the
            # wire has no place for it.
            return []
        return [self._block_event("content_block_delta", block, delta=wire)]

    def _block_stop(self, block: _Block) -> list[StreamItem]:
        if not block.open:
            return []
        block.open = False
        items = []
        if block.kind == gen.PART_KIND_REDACTED_THINKING:
            start = {"type": "redacted_thinking", "data": "".join(block.data)}
            items.append(self._block_event("content_block_start", block, content_block=start))
        elif block.kind == gen.PART_KIND_THINKING and block.signature:
            delta = {"type": "signature_delta", "signature": "".join(block.signature)}
            items.append(self._block_event("content_block_delta", block, delta=delta))
        items.append(self._block_event("content_block_stop", block))
        return items

    def _message_end(self, finished: gen.ResponseFinished) -> list[StreamItem]:
        items = [item for block in self._blocks.values() for item in self._block_stop(block)]
        usage: dict[str, int] = {"output_tokens": 0}
        if self._usage is not None:
            # message_delta's usage is cumulative and overwrites the start's (SDK accumulator).
            usage = wire_usage(self._usage)
        delta = {
            "stop_reason": stop_reason(finished.reason),
            "stop_sequence": finished.stop_sequence or None,
        }
        items.append(_item({"type": "message_delta", "delta": delta, "usage": usage}))
        items.append(_item({"type": "message_stop"}))
        self._done = True
        return items

    @staticmethod
    def _block_event(kind: str, block: _Block, **fields: Any) -> StreamItem:
        return _item({"type": kind, "index": block.index, **fields})


_NON_TEXT = frozenset(
    {gen.PART_KIND_TOOL_CALL, gen.PART_KIND_THINKING, gen.PART_KIND_REDACTED_THINKING}
)


def stream_encoder(decoded: DecodedCall, rhone_meta: Mapping[str, Any]) -> MessagesStreamEncoder:
    return MessagesStreamEncoder(decoded, rhone_meta)
