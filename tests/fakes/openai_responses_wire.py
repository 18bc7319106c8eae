"""OpenAI Responses on the wire (docs/protocols/openai-responses.md#response-object, #streaming),
written by hand.

Stream: ``event: <type>`` equal to the JSON ``type``, ``sequence_number`` from 0 with no gaps,
``response.created`` first; per output item ``output_item.added`` before its parts and deltas,
``output_item.done`` after; ``response.completed`` (or ``response.incomplete``) last. Output
order: a ``reasoning`` item (summary text + ``encrypted_content`` = the thinking signature),
the ``message``, then one ``function_call`` item per call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tests.fakes.openai_common import error_object, error_plan, response_headers
from tests.fakes.plans import Frame, Plan, Step
from tests.fakes.scenarios import Error, Text, Thinking, ToolCall
from tests.fakes.server import RecordedRequest, sse


@dataclass(frozen=True)
class _Item:
    """One output item with the id it keeps from ``added`` to ``done``."""

    id: str
    kind: str
    thinking: Thinking | None = None
    call: ToolCall | None = None
    call_id: str = ""


class ResponsesWire:
    """Responses encodings for one request."""

    def __init__(self, request: RecordedRequest, new_id: Callable[[str], str]) -> None:
        self.request = request.body if isinstance(request.body, dict) else {}
        options = self.request.get("stream_options") or {}
        self.model = str(self.request.get("model", "gpt-4o-mini"))
        self.obfuscate = options.get("include_obfuscation", True) is not False
        self.response_id = new_id("resp_")
        self.request_id = new_id("req_")
        self.created = int(time.time())
        self._new_id = new_id

    def success_headers(self, streaming: bool) -> dict[str, str]:
        kind = "text/event-stream; charset=utf-8" if streaming else "application/json"
        return response_headers(self.request_id, kind)

    def error(self, failure: Error) -> Plan:
        return error_plan(failure, self.request_id)

    def body(self, reply: Text) -> bytes:
        items = self._items(reply)
        output = [_final_item(item, reply) for item in items]
        return orjson.dumps(self._response(_status(reply), output, _usage(reply)))

    def stream(self, reply: Text) -> list[Frame]:
        events = _EventWriter(self.obfuscate)
        events.emit("response.created", response=self._response("in_progress", [], None))
        events.emit("response.in_progress", response=self._response("in_progress", [], None))
        items = self._items(reply)
        for index, item in enumerate(items):
            _stream_item(events, index, item, reply)
        output = [_final_item(item, reply) for item in items]
        status = _status(reply)
        terminal = "response.completed" if status == "completed" else "response.incomplete"
        events.emit(terminal, response=self._response(status, output, _usage(reply)))
        return events.frames

    def stream_error(self, status: int, message: str | None, sent: tuple[Step, ...]) -> list[Frame]:
        # Recorded third-party fixture: a nested ``error`` event then ``response.failed``;
        # openai-python raises APIError on the first (it checks for an ``error`` key).
        events = _EventWriter(self.obfuscate, first=sum(isinstance(s, Frame) for s in sent))
        inner = error_object(status, message)
        events.emit("error", error=inner)
        failed = self._response("failed", [], None)
        failed["error"] = {"code": inner["code"] or inner["type"], "message": inner["message"]}
        events.emit("response.failed", response=failed)
        return events.frames

    def hang_preamble(self) -> list[Frame]:
        events = _EventWriter(self.obfuscate)
        events.emit("response.created", response=self._response("in_progress", [], None))
        events.emit("response.in_progress", response=self._response("in_progress", [], None))
        return events.frames

    def keepalive(self) -> bytes:
        return b": keep-alive\n\n"

    def _items(self, reply: Text) -> list[_Item]:
        items = []
        if reply.thinking is not None:
            items.append(_Item(self._new_id("rs_"), "reasoning", thinking=reply.thinking))
        if reply.chunks:
            items.append(_Item(self._new_id("msg_"), "message"))
        for call in reply.tool_calls:
            call_id = call.call_id or self._new_id("call_")
            items.append(_Item(self._new_id("fc_"), "function_call", call=call, call_id=call_id))
        return items

    def _response(
        self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        req = self.request
        done = status in ("completed", "incomplete", "failed")
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": req.get("instructions"),
            "max_output_tokens": req.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": req.get("parallel_tool_calls", True),
            "previous_response_id": req.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default" if done else "auto",
            "store": req.get("store", True),
            "temperature": req.get("temperature", 1.0),
            "text": req.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": req.get("tool_choice", "auto"),
            "tools": req.get("tools") or [],
            "top_p": req.get("top_p", 1.0),
            "truncation": req.get("truncation", "disabled"),
            "usage": usage,
            "user": None,
            "metadata": req.get("metadata") or {},
        }


class _EventWriter:
    """Numbers events from ``first`` and frames them as ``event: <type>`` SSE."""

    def __init__(self, obfuscate: bool, first: int = 0) -> None:
        self.frames: list[Frame] = []
        self.obfuscate = obfuscate
        self._next = first

    def emit(self, kind: str, *, content: bool = False, **fields: Any) -> None:
        event = {"type": kind, "sequence_number": self._next, **fields}
        if content and self.obfuscate:
            event["obfuscation"] = "fAkEpAd"
        self._next += 1
        self.frames.append(Frame(sse(kind, event), content=content))


def _stream_item(events: _EventWriter, index: int, item: _Item, reply: Text) -> None:
    final = _final_item(item, reply)
    at: dict[str, Any] = {"item_id": item.id, "output_index": index}
    added: dict[str, Any]
    if item.kind == "reasoning" and item.thinking is not None:
        added = {"id": item.id, "type": "reasoning", "summary": [], "encrypted_content": None}
        events.emit("response.output_item.added", output_index=index, item=added)
        part = {"type": "summary_text", "text": ""}
        events.emit("response.reasoning_summary_part.added", **at, summary_index=0, part=part)
        for delta in item.thinking.chunks:
            events.emit(
                "response.reasoning_summary_text.delta",
                content=True,
                **at,
                summary_index=0,
                delta=delta,
            )
        text = item.thinking.text
        events.emit("response.reasoning_summary_text.done", **at, summary_index=0, text=text)
        part = {"type": "summary_text", "text": text}
        events.emit("response.reasoning_summary_part.done", **at, summary_index=0, part=part)
    elif item.kind == "message":
        added = {
            "id": item.id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        events.emit("response.output_item.added", output_index=index, item=added)
        part_at: dict[str, Any] = {**at, "content_index": 0}
        events.emit("response.content_part.added", **part_at, part=_output_text(""))
        for delta in reply.chunks:
            events.emit(
                "response.output_text.delta", content=True, **part_at, delta=delta, logprobs=[]
            )
        events.emit("response.output_text.done", **part_at, text=reply.text, logprobs=[])
        events.emit("response.content_part.done", **part_at, part=_output_text(reply.text))
    elif item.call is not None:
        added = {**final, "status": "in_progress", "arguments": ""}
        events.emit("response.output_item.added", output_index=index, item=added)
        for delta in item.call.arguments_json_chunks:
            events.emit("response.function_call_arguments.delta", content=True, **at, delta=delta)
        events.emit(
            "response.function_call_arguments.done",
            **at,
            arguments=item.call.arguments_json,
            name=item.call.name,
        )
    events.emit("response.output_item.done", output_index=index, item=final)


def _final_item(item: _Item, reply: Text) -> dict[str, Any]:
    if item.kind == "reasoning" and item.thinking is not None:
        return {
            "id": item.id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": item.thinking.text}],
            "encrypted_content": item.thinking.signature,
        }
    if item.kind == "message":
        return {
            "id": item.id,
            "type": "message",
            "status": "incomplete" if reply.stop == "max_tokens" else "completed",
            "role": "assistant",
            "content": [_output_text(reply.text)],
        }
    assert item.call is not None
    return {
        "id": item.id,
        "type": "function_call",
        "status": "completed",
        "arguments": item.call.arguments_json,
        "call_id": item.call_id,
        "name": item.call.name,
    }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _status(reply: Text) -> str:
    return "incomplete" if reply.stop == "max_tokens" else "completed"


def _usage(reply: Text) -> dict[str, Any]:
    prompt, completion = reply.usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
