"""``chat.completion.chunk`` payloads from an upstream -> canonical events.

Chat streams one flat delta per chunk; the canonical stream is block-structured. So the decoder
opens a part when a new kind of content starts (text, reasoning, or a new ``tool_calls[].index``),
closes the previous one, and numbers parts 0, 1, 2... across kinds. Chat sends usage in its own
chunk after the finish chunk (docs/protocols/openai-chat.md#streaming) while the canonical order is
usage then finished, so ``finished`` waits for the usage chunk or for ``close()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone import canonical
from rhone.v1 import generation_pb2 as gen

from .errors import failure_from_error
from .response import PROVIDER, finish_reason, reasoning_text, usage_from_object

Events = list[gen.GenerationEvent]


class ChatStreamDecoder:
    def __init__(self) -> None:
        self._started = False
        self._ended = False
        self._next_index = 0
        self._open: tuple[int, int] | None = None  # (part kind, canonical index) of the open part
        self._tools: dict[int, int] = {}  # chat tool_calls[].index -> canonical part index
        self._finish: str | None = None
        self._refused = False
        self._usage: gen.Usage | None = None

    def feed(self, event: str | None, data: Mapping[str, Any]) -> Events:
        if self._ended:
            return []
        if data.get("error"):
            self._ended = True
            return [canonical.failed(failure_from_error(data["error"]))]
        out: Events = []
        if not self._started:
            self._started = True
            out.append(
                canonical.started(str(data.get("id") or ""), str(data.get("model") or ""), PROVIDER)
            )
        for choice in data.get("choices") or ():
            # Rhone never asks for n > 1; only the first choice exists.
            if isinstance(choice, Mapping) and not choice.get("index"):
                self._choice(choice, out)
        usage = data.get("usage")
        if isinstance(usage, Mapping):
            self._usage = usage_from_object(usage)
        if self._finish is not None and self._usage is not None:
            out.extend(self._end())
        return out

    def close(self) -> Events:
        if self._ended or self._finish is None:
            # Without a finish_reason the answer was cut short: nothing here can finish it, and
            # the caller that saw the body end reports that (the providers' HttpConnector does).
            return []
        return self._end()

    def _choice(self, choice: Mapping[str, Any], out: Events) -> None:
        delta = choice.get("delta") or {}
        reasoning = reasoning_text(delta)
        if reasoning:
            index = self._open_part(gen.PART_KIND_THINKING, out)
            out.append(canonical.thinking_delta(index, reasoning))
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._refused = self._refused or key == "refusal"
                out.append(canonical.text_delta(self._open_part(gen.PART_KIND_TEXT, out), text))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            self._tool_call(position, call, out)
        if choice.get("finish_reason"):
            self._finish = str(choice["finish_reason"])
            self._close_open(out)

    def _open_part(self, kind: int, out: Events) -> int:
        """The index of the open part of ``kind``, starting one (and closing any other) if
        needed."""
        if self._open is not None and self._open[0] == kind:
            return self._open[1]
        return self._start_part(kind, out)

    def _tool_call(self, position: int, call: Mapping[str, Any], out: Events) -> None:
        # "index" numbers the calls; a few compatible servers leave it out (one call per list).
        chat_index = call.get("index", position)
        function = call.get("function") or {}
        if chat_index not in self._tools:
            self._tools[chat_index] = self._start_part(
                gen.PART_KIND_TOOL_CALL,
                out,
                tool_call_id=call.get("id") or "",
                tool_name=function.get("name") or "",
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # A late fragment for an already closed call still belongs to that call.
            out.append(canonical.arguments_delta(self._tools[chat_index], arguments))

    def _start_part(
        self, kind: int, out: Events, tool_call_id: str = "", tool_name: str = ""
    ) -> int:
        self._close_open(out)
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        out.append(canonical.part_started(index, kind, tool_call_id, tool_name))
        return index

    def _close_open(self, out: Events) -> None:
        if self._open is not None:
            out.append(canonical.part_finished(self._open[1]))
            self._open = None

    def _end(self) -> Events:
        self._ended = True
        out: Events = []
        self._close_open(out)
        if self._usage is not None:
            out.append(gen.GenerationEvent(usage=self._usage))
        reason = finish_reason(self._finish, self._refused)
        return [*out, canonical.finished(reason)]


def stream_decoder() -> ChatStreamDecoder:
    return ChatStreamDecoder()
