"""An upstream's Responses SSE stream as canonical events
(docs/protocols/openai-responses.md#streaming).

One canonical part per output_text/refusal content part, per function_call item and per
reasoning item, opened and finished in stream order. Servers that skip deltas and only send
the `.done` events or the final output (some OpenAI-compatible ones do) still give the whole
text: every `.done` is reconciled against what the deltas carried."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rhone import canonical
from rhone.dialects.openai_responses import messages
from rhone.dialects.openai_responses.errors import failure_from_error
from rhone.dialects.openai_responses.response import output_parts
from rhone.errors import RhoneError, make_failure
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

Event = gen.GenerationEvent
_Key = tuple[int, object]
_LIFECYCLE = ("response.created", "response.queued", "response.in_progress")


@dataclass(slots=True)
class _Part:
    key: _Key
    index: int
    kind: int
    text: str = ""


class ResponsesStreamDecoder:
    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: _Part | None = None
        self._closed: set[_Key] = set()
        self._tool_calls = False
        self._out: list[Event] = []

    def feed(self, event: str | None, data: Mapping[str, Any]) -> list[Event]:
        if self._done:
            return []
        self._out = []
        kind = data.get("type") or event or ""
        if kind in _LIFECYCLE:
            self._start(_mapping(data.get("response")))
        elif kind in ("response.completed", "response.incomplete"):
            self._complete(kind, _mapping(data.get("response")))
        elif kind == "response.failed":
            error = _mapping(_mapping(data.get("response")).get("error"))
            self._fail(failure_from_error(error, "Upstream response failed."))
        elif kind == "error":
            nested = data.get("error")  # SSE form is flat, the WS/recorded form nests it
            error = nested if isinstance(nested, Mapping) else data
            self._fail(failure_from_error(error, "Upstream stream error."))
        else:
            handler = _HANDLERS.get(kind)
            if handler is not None:
                self._start({})
                handler(self, data)
        return self._out

    def close(self) -> list[Event]:
        if self._done:
            return []
        self._done = True
        failure = make_failure(
            gen.ERROR_CODE_INTERNAL, "upstream stream ended early", retryable=True
        )
        return [canonical.failed(failure)]

    # --- lifecycle ---------------------------------------------------------------------------

    def _start(self, response: Mapping[str, Any]) -> None:
        if not self._started:
            self._started = True
            self._out.append(
                canonical.started(
                    _str(response.get("id")), _str(response.get("model")), messages.PROVIDER
                )
            )

    def _complete(self, kind: str, response: Mapping[str, Any]) -> None:
        self._start(response)
        self._close()
        output = response.get("output")
        if self._next_index == 0 and isinstance(output, list) and output:
            self._replay_output(output)
        usage = response.get("usage")
        if isinstance(usage, Mapping):
            self._out.append(Event(usage=messages.decode_usage(usage)))
        status = "incomplete" if kind == "response.incomplete" else "completed"
        has_calls = self._tool_calls or any(
            isinstance(item, Mapping) and item.get("type") == "function_call"
            for item in (output if isinstance(output, list) else [])
        )
        reason = messages.finish_reason_of(status, response.get("incomplete_details"), has_calls)
        self._out.append(canonical.finished(reason))
        self._done = True

    def _replay_output(self, output: list[Any]) -> None:
        """A server that streamed no parts but put them in the final response."""
        try:
            parts = output_parts(output)
        except RhoneError:  # malformed output from a lax server: nothing to replay
            return
        replay = gen.GenerateResponse(message=content.Message(parts=parts))
        for event in canonical.response_events(replay):
            if event.WhichOneof("event") in ("part_started", "part_delta", "part_finished"):
                self._out.append(event)
        self._next_index = len(parts)

    def _fail(self, failure: gen.Failure) -> None:
        self._out.append(canonical.failed(failure))
        self._done = True

    # --- parts -------------------------------------------------------------------------------

    def _open_part(self, key: _Key, kind: int, call_id: str = "", name: str = "") -> _Part:
        self._close()
        part = _Part(key, self._next_index, kind)
        self._next_index += 1
        self._open = part
        if kind == gen.PART_KIND_TOOL_CALL:
            self._tool_calls = True
        self._out.append(canonical.part_started(part.index, kind, call_id, name))
        return part

    def _current(self, key: _Key) -> _Part | None:
        return self._open if self._open is not None and self._open.key == key else None

    def _part(self, key: _Key, kind: int) -> _Part:
        return self._current(key) or self._open_part(key, kind)

    def _close(self) -> None:
        if self._open is not None:
            self._out.append(canonical.part_finished(self._open.index))
            self._closed.add(self._open.key)
            self._open = None

    def _delta(self, part: _Part, value: str) -> None:
        if not value:
            return
        part.text += value
        if part.kind == gen.PART_KIND_TEXT:
            self._out.append(canonical.text_delta(part.index, value))
        elif part.kind == gen.PART_KIND_TOOL_CALL:
            self._out.append(canonical.arguments_delta(part.index, value))
        else:
            self._out.append(canonical.thinking_delta(part.index, value))

    def _reconcile(self, part: _Part, final: Any) -> None:
        """Adds what a `.done` event holds beyond the deltas already seen."""
        if isinstance(final, str) and final.startswith(part.text):
            self._delta(part, final[len(part.text) :])

    # --- event handlers ----------------------------------------------------------------------

    def _item_added(self, data: Mapping[str, Any]) -> None:
        item = _mapping(data.get("item"))
        if item.get("type") == "function_call":
            key = (_int(data.get("output_index")), "call")
            part = self._open_part(
                key, gen.PART_KIND_TOOL_CALL, _str(item.get("call_id")), _str(item.get("name"))
            )
            self._delta(part, _str(item.get("arguments")))

    def _content_part_added(self, data: Mapping[str, Any]) -> None:
        part = _mapping(data.get("part"))
        if part.get("type") in ("output_text", "refusal"):
            opened = self._open_part(_text_key(data), gen.PART_KIND_TEXT)
            self._delta(opened, _str(part.get("text")) or _str(part.get("refusal")))

    def _text_delta(self, data: Mapping[str, Any]) -> None:
        self._delta(self._part(_text_key(data), gen.PART_KIND_TEXT), _str(data.get("delta")))

    def _text_done(self, data: Mapping[str, Any]) -> None:
        key = _text_key(data)
        if key in self._closed:
            return
        part = self._part(key, gen.PART_KIND_TEXT)
        self._reconcile(part, data.get("text", data.get("refusal")))
        self._close()

    def _content_part_done(self, data: Mapping[str, Any]) -> None:
        part = _mapping(data.get("part"))
        self._finish_text(_text_key(data), _str(part.get("text")) or _str(part.get("refusal")))

    def _finish_text(self, key: _Key, final: str) -> None:
        if key in self._closed:
            return
        current = self._current(key)
        if current is None and not final:
            return
        part = current or self._open_part(key, gen.PART_KIND_TEXT)
        self._reconcile(part, final)
        self._close()

    def _arguments_delta(self, data: Mapping[str, Any]) -> None:
        key = (_int(data.get("output_index")), "call")
        self._delta(self._part(key, gen.PART_KIND_TOOL_CALL), _str(data.get("delta")))

    def _arguments_done(self, data: Mapping[str, Any]) -> None:
        key = (_int(data.get("output_index")), "call")
        if key not in self._closed:
            self._reconcile(self._part(key, gen.PART_KIND_TOOL_CALL), data.get("arguments"))

    def _summary_part_added(self, data: Mapping[str, Any]) -> None:
        part = self._part(_reasoning_key(data), gen.PART_KIND_THINKING)
        if _int(data.get("summary_index")) > 0 and part.text:
            self._delta(part, messages.SUMMARY_JOINER)

    def _thinking_delta(self, data: Mapping[str, Any]) -> None:
        part = self._part(_reasoning_key(data), gen.PART_KIND_THINKING)
        self._delta(part, _str(data.get("delta")))

    def _item_done(self, data: Mapping[str, Any]) -> None:
        item = _mapping(data.get("item"))
        output_index = _int(data.get("output_index"))
        kind = item.get("type")
        if kind == "message":
            for ci, entry in enumerate(item.get("content") or []):
                entry = _mapping(entry)
                final = _str(entry.get("text")) or _str(entry.get("refusal"))
                self._finish_text((output_index, ci), final)
        elif kind == "function_call":
            key = (output_index, "call")
            if key in self._closed:
                return
            part = self._current(key) or self._open_part(
                key, gen.PART_KIND_TOOL_CALL, _str(item.get("call_id")), _str(item.get("name"))
            )
            self._reconcile(part, item.get("arguments"))
            self._close()
        elif kind == "reasoning":
            self._reasoning_done((output_index, "reasoning"), item)

    def _reasoning_done(self, key: _Key, item: Mapping[str, Any]) -> None:
        try:
            decoded = messages.decode_reasoning(item, "item")
        except RhoneError:  # a lax server's malformed summary: keep what the deltas gave
            decoded = None
        part = self._current(key)
        if part is None and decoded is None:
            return
        part = part or self._open_part(key, gen.PART_KIND_THINKING)
        if decoded is not None:
            self._reconcile(part, decoded.thinking.text)
            if decoded.thinking.signature:
                self._out.append(canonical.signature_delta(part.index, decoded.thinking.signature))
        self._close()


_HANDLERS = {
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.content_part.added": ResponsesStreamDecoder._content_part_added,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.refusal.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.done": ResponsesStreamDecoder._text_done,
    "response.content_part.done": ResponsesStreamDecoder._content_part_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._arguments_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._arguments_done,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part_added,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._thinking_delta,
    "response.reasoning_text.delta": ResponsesStreamDecoder._thinking_delta,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
}


def _text_key(data: Mapping[str, Any]) -> _Key:
    return (_int(data.get("output_index")), _int(data.get("content_index")))


def _reasoning_key(data: Mapping[str, Any]) -> _Key:
    return (_int(data.get("output_index")), "reasoning")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
