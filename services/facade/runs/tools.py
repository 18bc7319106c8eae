"""What a run needs to know of its surface: which tools a model call asked for, and the body of
the next call, which carries the client's tool outputs in the surface's own words.

The tool calls are read back from the call's own stream events with the surface's dialect (the
events a surface streams are the wire format the same dialect decodes from an upstream), so
every surface is handled by one mechanism and nothing has to be re-read from the session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from rhone.canonical import fold_events
from rhone.v1 import generation_pb2 as gen
from services.facade.ws.calls import CallSurface

# The fields of a first body that hold the conversation: a later step replaces them with the
# tool outputs (the session holds everything before).
_CONVERSATION = ("messages", "input", "contents", "previous_response_id")


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


def tool_calls_of(surface: CallSurface, events: Sequence[bytes]) -> list[ToolCall]:
    """The tool calls of one call's answer, from its stream events."""
    decoder = surface.dialect.stream_decoder()
    canonical: list[gen.GenerationEvent] = []
    for raw in events:
        data = orjson.loads(raw)
        name = data.get("type") if isinstance(data.get("type"), str) else None
        canonical.extend(decoder.feed(name, data))
    canonical.extend(decoder.close())
    message = fold_events(canonical).message
    return [
        ToolCall(part.tool_call.id, part.tool_call.name, part.tool_call.arguments)
        for part in message.parts
        if part.HasField("tool_call")
    ]


def output_text(output: Any) -> str:
    """A tool's output as text, for surfaces whose tool results are text."""
    return output if isinstance(output, str) else orjson.dumps(output).decode()


def next_body(
    surface: str,
    first_body: dict[str, Any],
    calls: Sequence[ToolCall],
    outputs: dict[str, Any],
) -> dict[str, Any]:
    """The body of the call after a pause: the first body's settings (model, tools, ...) and,
    for its conversation, only the tool outputs, in the order the model asked for the tools."""
    body = {k: v for k, v in first_body.items() if k not in _CONVERSATION}
    if surface == "openai.chat":
        body["messages"] = [
            {"role": "tool", "tool_call_id": c.id, "content": output_text(outputs[c.id])}
            for c in calls
        ]
    elif surface == "openai.responses":
        body["input"] = [
            {"type": "function_call_output", "call_id": c.id, "output": output_text(outputs[c.id])}
            for c in calls
        ]
    elif surface == "anthropic.messages":
        results = [
            {"type": "tool_result", "tool_use_id": c.id, "content": output_text(outputs[c.id])}
            for c in calls
        ]
        body["messages"] = [{"role": "user", "content": results}]
    else:  # gemini.generate_content, vertex.generate_content
        parts = []
        for c in calls:
            output = outputs[c.id]
            response = output if isinstance(output, dict) else {"output": output}
            parts.append({"functionResponse": {"id": c.id, "name": c.name, "response": response}})
        body["contents"] = [{"role": "user", "parts": parts}]
    return body
