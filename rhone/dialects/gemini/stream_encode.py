"""The canonical stream as google-genai expects ``streamGenerateContent``: each item one complete
GenerateContentResponse carrying only the new parts (docs/protocols/gemini.md#streaming).

Text and thinking deltas go out as they come. A function call goes out whole when its part
finishes, as Gemini's own calls arrive whole. The last item carries ``finishReason`` and the full
``usageMetadata``. A signature-only thinking part (canonically: a signature Gemini put on a text
part) rides on the next text chunk, or on the final chunk's empty text part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.dialects.base import DecodedCall
from rhone.dialects.gemini import fields, messages, response
from rhone.dialects.gemini.errors import error_object
from rhone.errors import http_status_of
from rhone.sse import StreamItem
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen


class StreamEncoder:
    def __init__(
        self, flavor: fields.Flavor, decoded: DecodedCall, rhone_meta: Mapping[str, Any]
    ) -> None:
        self._flavor = flavor
        self._meta = dict(rhone_meta)
        self._id = ""
        self._model = decoded.request.model
        self._create_time = response.now() if flavor.vertex else ""
        self._parts: dict[int, content.Part] = {}  # open thinking and tool-call parts
        self._pending_signature = ""
        self._usage: gen.Usage | None = None
        self._done = False

    def encode(self, event: gen.GenerationEvent) -> list[StreamItem]:
        if self._done:
            return []
        kind = event.WhichOneof("event")
        if kind == "started":
            self._id, self._model = event.started.id, event.started.model or self._model
        elif kind == "part_started":
            self._start(event.part_started)
        elif kind == "part_delta":
            return self._delta(event.part_delta)
        elif kind == "part_finished":
            return self._finish_part(event.part_finished.index)
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "finished":
            self._done = True
            wire_parts = self._take_signature() or [{"text": ""}]
            reason = response.finish_reason(event.finished.reason)
            return [self._item(wire_parts, reason, self._usage)]
        elif kind == "failure":
            self._done = True
            error = error_object(event.failure, http_status_of(event.failure))
            return [StreamItem(orjson.dumps({"error": error}))]
        return []

    def close(self) -> list[StreamItem]:
        return []

    def _start(self, started: gen.PartStarted) -> None:
        if started.kind == gen.PART_KIND_TOOL_CALL:
            call = content.ToolCallPart(id=started.tool_call_id, name=started.tool_name)
            self._parts[started.index] = content.Part(tool_call=call)
        elif started.kind == gen.PART_KIND_THINKING:
            self._parts[started.index] = content.Part(thinking=content.ThinkingPart())

    def _delta(self, delta: gen.PartDelta) -> list[StreamItem]:
        which = delta.WhichOneof("delta")
        part = self._parts.get(delta.index)
        if which == "text" and delta.text:
            wire_part: dict[str, Any] = {"text": delta.text}
            if self._pending_signature:
                wire_part["thoughtSignature"] = self._pending_signature
                self._pending_signature = ""
            return [self._item([wire_part])]
        if which == "thinking" and delta.thinking and part is not None:
            part.thinking.text += delta.thinking
            return [
                self._item([*self._take_signature(), {"text": delta.thinking, "thought": True}])
            ]
        if which == "arguments" and part is not None:
            part.tool_call.arguments += delta.arguments
        elif which == "signature" and part is not None:
            if part.HasField("tool_call"):
                part.tool_call.signature += delta.signature
            else:
                part.thinking.signature += delta.signature
        return []  # redacted thinking has no Gemini form

    def _finish_part(self, index: int) -> list[StreamItem]:
        part = self._parts.pop(index, None)
        if part is None:
            return []
        if part.HasField("tool_call"):
            call = messages.function_call(part.tool_call, messages.SURFACE)
            return [self._item([*self._take_signature(), call])]
        signature = part.thinking.signature
        if not messages.SURFACE.keep_signature(signature, ""):
            return []
        if part.thinking.text:
            wire_part = {"text": "", "thought": True, "thoughtSignature": signature}
            return [self._item([*self._take_signature(), wire_part])]
        held = self._take_signature()
        self._pending_signature = signature
        return [self._item(held)] if held else []

    def _take_signature(self) -> list[dict[str, Any]]:
        """The held signature as a part of its own, when the next thing is not text."""
        if not self._pending_signature:
            return []
        held = [{"text": "", "thoughtSignature": self._pending_signature}]
        self._pending_signature = ""
        return held

    def _item(
        self, wire_parts: list[dict[str, Any]], reason: str = "", usage: gen.Usage | None = None
    ) -> StreamItem:
        body = response.response_body(
            self._flavor,
            wire_parts,
            response_id=self._id,
            model=self._model,
            finish_reason=reason,
            usage=usage,
            create_time=self._create_time,
        )
        if self._meta:  # the first item only; after "candidates" so errors stay first elsewhere
            body["rhone"] = self._meta
            self._meta = {}
        return StreamItem(orjson.dumps(body))
