"""The canonical stream as Responses SSE events, and a whole response as a Response object.

The event order is the one openai-python's `responses.stream()` accumulator demands
(lib/streaming/responses/_responses.py; docs/protocols/sdk-clients.md,
docs/protocols/openai-responses.md#streaming): `response.created` first, every `output_index`
announced by `output_item.added` before any event that names it, indexes contiguous from 0, every
item done before `response.completed`, `sequence_number` from 0."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rhone.canonical import response_events
from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_responses import messages
from rhone.dialects.openai_responses.errors import response_error
from rhone.dialects.openai_responses.item_ids import output_item_id
from rhone.jsonutil import dict_from_struct, dumps
from rhone.sse import StreamItem
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_ITEM_PREFIX = {
    gen.PART_KIND_TEXT: "msg",
    gen.PART_KIND_TOOL_CALL: "fc",
    gen.PART_KIND_THINKING: "rs",
}
# Request fields a Response echoes that have no canonical home, read back from the extras, each
# with what OpenAI reports when the request had none. Open Responses' ResponseResource requires
# them all (tests/contracts/open_responses/openapi.json); `user` is the SDK's.
_ECHOED_EXTRAS: dict[str, Any] = {
    "truncation": "disabled",
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "max_tool_calls": None,
    "service_tier": "default",
    "safety_identifier": None,
    "prompt_cache_key": None,
    "user": None,
}
# The sampling defaults OpenAI applies (and reports) when a request sets none.
_DEFAULT_TEMPERATURE = 1.0
_DEFAULT_TOP_P = 1.0


@dataclass(slots=True)
class _OpenItem:
    """An output item being streamed: one canonical part."""

    kind: int
    output_index: int
    item_id: str
    call_id: str = ""
    name: str = ""
    text: str = ""
    signature: str = ""
    summary_open: bool = False


@dataclass(slots=True)
class _State:
    started: bool = False
    done: bool = False
    sequence: int = 0
    response_id: str = ""
    model: str = ""
    provider: str = ""
    output: list[dict[str, Any]] = field(default_factory=list)
    items: dict[int, _OpenItem | None] = field(default_factory=dict)
    usage: dict[str, Any] | None = None


class ResponsesStreamEncoder:
    """Canonical events in, Responses stream events out (as dicts via ``events``, as SSE items
    via ``encode``). Redacted thinking has no Responses form and is left out of the output."""

    def __init__(self, decoded: DecodedCall, rhone_meta: Mapping[str, Any]) -> None:
        self._options = decoded.options
        # A stored response repeats the settings it was answered with (options["echo"]).
        echo = self._options.get("echo")
        self._echo = dict(echo) if isinstance(echo, Mapping) else request_echo(decoded)
        self._rhone = dict(rhone_meta)
        created = self._options.get("created_at")
        self._created_at = created if isinstance(created, int) else int(time.time())
        self._state = _State(model=decoded.request.model)
        self.final_response: dict[str, Any] | None = None

    def encode(self, event: gen.GenerationEvent) -> list[StreamItem]:
        return [StreamItem(data=dumps(item), event=item["type"]) for item in self.events(event)]

    def close(self) -> list[StreamItem]:
        return []  # Responses streams end with the terminal event, no sentinel.

    def events(self, event: gen.GenerationEvent) -> list[dict[str, Any]]:
        state, out = self._state, _Out(self._state)
        if state.done:
            return []
        kind = event.WhichOneof("event")
        if not state.started:
            self._begin(out, event.started if kind == "started" else None)
        if kind == "part_started":
            self._part_started(out, event.part_started)
        elif kind == "part_delta":
            self._part_delta(out, event.part_delta)
        elif kind == "part_finished":
            self._part_finished(out, event.part_finished.index)
        elif kind == "usage":
            state.usage = messages.encode_usage(event.usage)
        elif kind == "finished":
            self._finish(out, event.finished.reason)
        elif kind == "failure":
            self._fail(out, event.failure)
        return out.events

    # --- lifecycle ---------------------------------------------------------------------------

    def _begin(self, out: _Out, started: gen.ResponseStarted | None) -> None:
        state = self._state
        state.started = True
        given = self._options.get("response_id")
        upstream_id = started.id if started is not None else ""
        state.response_id = given if isinstance(given, str) and given else _response_id(upstream_id)
        if started is not None:
            state.model = started.model or state.model
            state.provider = started.provider
        response = self._response("in_progress")
        out.emit("response.created", response=response)
        out.emit("response.in_progress", response=response)

    def _finish(self, out: _Out, reason: int) -> None:
        for index in list(self._state.items):
            self._part_finished(out, index)
        status, incomplete = messages.status_of(reason)
        response = self._response(status, incomplete_details=incomplete)
        self._terminal(out, f"response.{status}", response)

    def _fail(self, out: _Out, failure: gen.Failure) -> None:
        for item in self._state.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        response = self._response("failed", error=response_error(failure))
        self._terminal(out, "response.failed", response)

    def _terminal(self, out: _Out, kind: str, response: dict[str, Any]) -> None:
        self._state.done = True
        if kind == "response.completed":
            completed = self._options.get("completed_at")
            response["completed_at"] = completed if isinstance(completed, int) else int(time.time())
        self.final_response = response
        out.emit(kind, response=response)

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        state = self._state
        response: dict[str, Any] = {
            "id": state.response_id,
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "model": state.model,
            "output": [dict(item) for item in state.output] if status != "in_progress" else [],
            "usage": state.usage if status != "in_progress" else None,
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            **self._echo,
            **fields,
        }
        if self._rhone:
            response["rhone"] = self._rhone
        return response

    # --- parts -------------------------------------------------------------------------------

    def _part_started(self, out: _Out, started: gen.PartStarted) -> None:
        state = self._state
        prefix = _ITEM_PREFIX.get(started.kind)
        if prefix is None:  # redacted thinking
            state.items[started.index] = None
            return
        output_index = len(state.output)
        base = state.response_id.removeprefix("resp_")
        item_id = output_item_id(prefix, state.response_id, output_index)
        open_item = _OpenItem(started.kind, output_index, item_id)
        state.items[started.index] = open_item
        if started.kind == gen.PART_KIND_TEXT:
            item = _message(item_id, "in_progress", [])
            state.output.append(item)
            out.emit("response.output_item.added", output_index=output_index, item=dict(item))
            out.emit(
                "response.content_part.added",
                **_at(open_item),
                content_index=0,
                part=messages.output_text(""),
            )
        elif started.kind == gen.PART_KIND_TOOL_CALL:
            open_item.call_id = started.tool_call_id or f"call_{base}_{output_index}"
            open_item.name = started.tool_name
            item = _function_call(open_item, "in_progress")
            state.output.append(item)
            out.emit("response.output_item.added", output_index=output_index, item=dict(item))
        else:
            item = messages.reasoning_item(item_id, "", "")
            state.output.append(item)
            out.emit("response.output_item.added", output_index=output_index, item=dict(item))

    def _part_delta(self, out: _Out, delta: gen.PartDelta) -> None:
        open_item = self._state.items.get(delta.index)
        which = delta.WhichOneof("delta")
        if open_item is None or which is None:
            return
        value: str = getattr(delta, which)
        if which == "text" and open_item.kind == gen.PART_KIND_TEXT and value:
            open_item.text += value
            out.emit(
                "response.output_text.delta",
                **_at(open_item),
                content_index=0,
                delta=value,
                logprobs=[],
            )
        elif which == "arguments" and open_item.kind == gen.PART_KIND_TOOL_CALL and value:
            open_item.text += value
            out.emit("response.function_call_arguments.delta", **_at(open_item), delta=value)
        elif which == "thinking" and open_item.kind == gen.PART_KIND_THINKING and value:
            if not open_item.summary_open:
                open_item.summary_open = True
                out.emit(
                    "response.reasoning_summary_part.added",
                    **_at(open_item),
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            open_item.text += value
            out.emit(
                "response.reasoning_summary_text.delta",
                **_at(open_item),
                summary_index=0,
                delta=value,
            )
        elif which == "signature" and open_item.kind == gen.PART_KIND_THINKING:
            # A tool call's signature (Gemini's) has no Responses field and is not shown.
            open_item.signature += value

    def _part_finished(self, out: _Out, index: int) -> None:
        open_item = self._state.items.pop(index, None)
        if open_item is None:
            return
        at = _at(open_item)
        if open_item.kind == gen.PART_KIND_TEXT:
            part = messages.output_text(open_item.text)
            out.emit(
                "response.output_text.done", **at, content_index=0, text=open_item.text, logprobs=[]
            )
            out.emit("response.content_part.done", **at, content_index=0, part=part)
            item = _message(open_item.item_id, "completed", [part])
        elif open_item.kind == gen.PART_KIND_TOOL_CALL:
            out.emit(
                "response.function_call_arguments.done",
                **at,
                arguments=open_item.text,
                name=open_item.name,
            )
            item = _function_call(open_item, "completed")
        else:
            if open_item.summary_open:
                summary = {"type": "summary_text", "text": open_item.text}
                out.emit(
                    "response.reasoning_summary_text.done",
                    **at,
                    summary_index=0,
                    text=open_item.text,
                )
                out.emit(
                    "response.reasoning_summary_part.done", **at, summary_index=0, part=summary
                )
            signature = messages.tag_signature(open_item.signature, self._state.provider)
            item = messages.reasoning_item(open_item.item_id, open_item.text, signature)
        self._state.output[open_item.output_index] = item
        out.emit("response.output_item.done", output_index=open_item.output_index, item=dict(item))


class _Out:
    """Collects one call's events, numbering them from the stream's running sequence."""

    def __init__(self, state: _State) -> None:
        self._state = state
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"type": kind, "sequence_number": self._state.sequence, **fields})
        self._state.sequence += 1


def _at(open_item: _OpenItem) -> dict[str, Any]:
    return {"item_id": open_item.item_id, "output_index": open_item.output_index}


def _message(item_id: str, status: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def _function_call(open_item: _OpenItem, status: str) -> dict[str, Any]:
    call = content.ToolCallPart(id=open_item.call_id, name=open_item.name, arguments=open_item.text)
    return messages.function_call_item(open_item.item_id, call, status)


def _response_id(upstream_id: str) -> str:
    if upstream_id.startswith("resp_"):
        return upstream_id
    return "resp_" + (upstream_id or uuid.uuid4().hex)


def request_echo(decoded: DecodedCall) -> dict[str, Any]:
    """The request fields a Response object repeats, so the SDK's `Response` model (which
    requires tools, tool_choice and parallel_tool_calls) validates and clients see their
    settings; built from the canonical request and the Responses options."""
    request, options = decoded.request, decoded.options
    config = request.config
    extras = dict_from_struct(request.extras) if request.extras_dialect == messages.NAME else {}
    tools: list[Any] = [messages.encode_tool(tool) for tool in request.tools]
    tools.extend(extras.get("tools") or [])
    fmt = messages.encode_format(config.response_format) or {"type": "text"}
    reasoning = {
        "effort": config.reasoning_effort or None,
        "summary": "auto" if config.include_thinking else None,
        **(extras.get("reasoning") or {}),
    }
    echo: dict[str, Any] = {
        "instructions": options.get("instructions"),
        "tools": tools,
        "tool_choice": messages.encode_tool_choice(request.tool_choice)
        or extras.get("tool_choice")
        or "auto",
        "parallel_tool_calls": (
            config.parallel_tool_calls if config.HasField("parallel_tool_calls") else True
        ),
        "temperature": (
            config.temperature if config.HasField("temperature") else _DEFAULT_TEMPERATURE
        ),
        "top_p": config.top_p if config.HasField("top_p") else _DEFAULT_TOP_P,
        "max_output_tokens": config.max_tokens if config.HasField("max_tokens") else None,
        "previous_response_id": options.get("previous_response_id"),
        "store": options.get("store", True),
        "metadata": dict(request.metadata),
        "text": {"format": fmt, **(extras.get("text") or {})},
        "reasoning": reasoning,
        # Rhone answers every request in the foreground.
        "background": False,
    }
    for key, default in _ECHOED_EXTRAS.items():
        value = extras.get(key)
        echo[key] = default if value is None else value
    if echo["service_tier"] == "auto":  # the API reports the tier that served the request
        echo["service_tier"] = _ECHOED_EXTRAS["service_tier"]
    return echo


def encode_response(
    response: gen.GenerateResponse, rhone_meta: Mapping[str, Any]
) -> dict[str, Any]:
    """The non-stream Response object: the same object the stream ends with. Only the
    GenerateResponse reaches here, so request echo fields keep their defaults."""
    encoder = ResponsesStreamEncoder(
        DecodedCall(request=gen.GenerateRequest(model=response.model)), rhone_meta
    )
    for event in response_events(response):
        encoder.events(event)
    assert encoder.final_response is not None  # response_events always ends with `finished`
    return encoder.final_response
