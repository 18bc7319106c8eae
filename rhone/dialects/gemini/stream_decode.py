"""An upstream ``streamGenerateContent?alt=sse`` stream to canonical events.

Each SSE payload is a whole GenerateContentResponse holding only the new parts
(docs/protocols/gemini.md#streaming): consecutive text chunks continue one text part, thought chunks
one thinking part, and every functionCall arrives whole, so it becomes a whole tool-call part at
once. ``finishReason`` on the last chunk ends the stream; usage comes from the last
``usageMetadata`` seen. Upstream JSON is always camelCase (responses never use snake_case), so no
key normalisation on this hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone import canonical
from rhone.dialects.gemini import errors, fields
from rhone.dialects.gemini.usage import usage_of
from rhone.errors import make_failure
from rhone.jsonutil import compact_json
from rhone.v1 import generation_pb2 as gen

Event = gen.GenerationEvent
_NONE = gen.PART_KIND_UNSPECIFIED


class StreamDecoder:
    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._started = False
        self.done = False
        self._next_index = 0
        self._open_kind: int = _NONE
        self._open_signed = False  # a signature ends a thinking part
        self._calls = 0
        self._response_id = ""
        self._usage: Mapping[str, Any] | None = None

    def feed(self, event: str | None, data: Mapping[str, Any]) -> list[Event]:
        del event  # Gemini's SSE has no event names
        if self.done:
            return []
        if "error" in data:
            self.done = True
            error = data["error"]
            if isinstance(error, dict):
                return [canonical.failed(errors.failure_of(error))]
            return [canonical.failed(make_failure(gen.ERROR_CODE_INTERNAL, str(error)))]
        events: list[Event] = []
        if not self._started:
            self._started = True
            self._response_id = _text(data.get("responseId"))
            model = _text(data.get("modelVersion"))
            events.append(canonical.started(self._response_id, model, self._provider))
        usage = data.get("usageMetadata")
        if isinstance(usage, Mapping):
            self._usage = usage
        candidate = _first_candidate(data.get("candidates"))
        if candidate is None:
            feedback = data.get("promptFeedback")
            if isinstance(feedback, Mapping) and feedback.get("blockReason"):
                # The prompt itself was blocked: no candidates at all.
                events.extend(self.finish(gen.FINISH_REASON_CONTENT_FILTER))
            return events
        body = candidate.get("content")
        parts = body.get("parts") if isinstance(body, Mapping) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, Mapping):
                events.extend(self._part(part))
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason and reason != "FINISH_REASON_UNSPECIFIED":
            events.extend(self.finish(fields.FINISH_FROM_WIRE.get(reason, gen.FINISH_REASON_STOP)))
        return events

    def close(self) -> list[Event]:
        if self.done:
            return []
        self.done = True
        failure = make_failure(
            gen.ERROR_CODE_INTERNAL, "upstream stream ended early", retryable=True
        )
        return [canonical.failed(failure)]

    def finish(self, reason: int) -> list[Event]:
        """Closes the open part, then usage and finished. Function calls end with STOP on the
        wire; canonically that is TOOL_CALLS."""
        events = self._close_part()
        if self._usage is not None:
            events.append(Event(usage=usage_of(self._usage)))
        if reason == gen.FINISH_REASON_STOP and self._calls:
            reason = gen.FINISH_REASON_TOOL_CALLS
        events.append(canonical.finished(reason))
        self.done = True
        return events

    def _part(self, part: Mapping[str, Any]) -> list[Event]:
        signature = _text(part.get("thoughtSignature"))
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            return self._function_call(call, signature)
        text = part.get("text")
        if isinstance(text, str) and part.get("thought") is True:
            return self._thought(text, signature)
        events = self._signature_only(signature) if signature else []
        if not isinstance(text, str):
            text = fields.code_text(part)  # inlineData/fileData outputs have no canonical kind
        if text:
            events.extend(self._open(gen.PART_KIND_TEXT))
            events.append(canonical.text_delta(self._next_index - 1, text))
        return events

    def _thought(self, text: str, signature: str) -> list[Event]:
        events: list[Event] = []
        if self._open_kind != gen.PART_KIND_THINKING or self._open_signed:
            events.extend(self._close_part())
            events.extend(self._open(gen.PART_KIND_THINKING))
        index = self._next_index - 1
        if text:
            events.append(canonical.thinking_delta(index, text))
        if signature:
            events.append(canonical.signature_delta(index, signature))
            self._open_signed = True
        return events

    def _signature_only(self, signature: str) -> list[Event]:
        """A signature on a text or media part: a thinking part holding only the signature."""
        events = self._close_part()
        index = self._start(gen.PART_KIND_THINKING, events)
        events.append(canonical.signature_delta(index, signature))
        events.append(canonical.part_finished(index))
        return events

    def _function_call(self, call: Mapping[str, Any], signature: str) -> list[Event]:
        events = self._close_part()
        call_id = _text(call.get("id"))
        if not call_id:
            # Deterministic, and unique across turns because responseId is.
            stem = f"call_{self._response_id}_" if self._response_id else "call_"
            call_id = f"{stem}{self._calls}"
        self._calls += 1
        index = self._start(gen.PART_KIND_TOOL_CALL, events, call_id, _text(call.get("name")))
        args = call.get("args")
        events.append(
            canonical.arguments_delta(index, compact_json(args if args is not None else {}))
        )
        if signature:
            events.append(canonical.signature_delta(index, signature))
        events.append(canonical.part_finished(index))
        return events

    def _open(self, kind: int) -> list[Event]:
        if self._open_kind == kind:
            return []
        events = self._close_part()
        self._start(kind, events)
        self._open_kind = kind
        self._open_signed = False
        return events

    def _start(self, kind: int, events: list[Event], call_id: str = "", name: str = "") -> int:
        index = self._next_index
        self._next_index += 1
        events.append(canonical.part_started(index, kind, call_id, name))
        return index

    def _close_part(self) -> list[Event]:
        if self._open_kind == _NONE:
            return []
        self._open_kind = _NONE
        return [canonical.part_finished(self._next_index - 1)]


def _first_candidate(candidates: Any) -> Mapping[str, Any] | None:
    """Only the first candidate is canonical (candidateCount > 1 has no canonical meaning)."""
    if not isinstance(candidates, list):
        return None
    for candidate in candidates:
        if isinstance(candidate, Mapping) and candidate.get("index", 0) in (0, None):
            return candidate
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
