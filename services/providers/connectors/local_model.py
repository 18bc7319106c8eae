"""The offline `local` model: deterministic answers computed from the whole transcript, so that
everything stateful about Rhone can be seen working without a network or a key.

What it answers (the last message decides):
- a tool result (ROLE_TOOL last): `Tool <name> returned: <result text>`
- tools offered and the last user message names one of them, or asks to "call"/"use" a
  tool: a call of that tool (the named one, else the first). Arguments: a JSON object written
  in the message, else every string property of the tool's schema set to the message text,
  integer/number properties to the first number in it (0 if none), booleans to true.
- otherwise: `You said: "<last user text>". This is user turn <n>; your first message was:
  "<first user text>".` (with ` System: "<system text>".` appended when a system prompt is set)
- JSON response formats: an object instead of prose (`json_object`: {"answer", "user_turns"};
  `json_schema`: an instance of the schema's top-level properties).

It thinks when asked to (a thinking budget, or include_thinking): one thinking part
`Counting user turns: <n>.` with signature `local-<hash>`. max_tokens cuts the answer (finish
LENGTH); a stop sequence cuts it before the sequence (finish STOP_SEQUENCE).
Tokens are whitespace-separated words: usage counts words of the transcript and the answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TOOL_ASK = re.compile(r"\b(call|use|invoke|run)\b", re.IGNORECASE)


@dataclass(slots=True)
class LocalReply:
    thinking: str = ""
    signature: str = ""
    text: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, args)
    finish: int = gen.FINISH_REASON_STOP
    stop_sequence: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


def count_tokens(messages: list[content.Message], tools: list[gen.Tool] | None = None) -> int:
    words = sum(len(part_text(part).split()) for m in messages for part in m.parts)
    for tool in tools or []:
        words += len(tool.name.split()) + len(tool.description.split())
    return words


def part_text(part: content.Part) -> str:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return part.text.text
    if kind == "tool_call":
        return f"{part.tool_call.name} {part.tool_call.arguments}"
    if kind == "tool_result":
        return " ".join(part_text(p) for p in part.tool_result.content)
    if kind == "thinking":
        return part.thinking.text
    if kind == "file":
        return part.file.text
    return ""


def message_text(message: content.Message) -> str:
    return " ".join(t for t in (part_text(p) for p in message.parts) if t)


def reply_to(request: gen.GenerateRequest) -> LocalReply:
    messages = list(request.messages)
    users = [m for m in messages if m.role == content.ROLE_USER]
    reply = LocalReply(input_tokens=count_tokens(messages, list(request.tools)))
    config = request.config
    if config.HasField("thinking_budget") or config.include_thinking:
        reply.thinking = f"Counting user turns: {len(users)}."
        reply.signature = "local-" + hashlib.sha256(reply.thinking.encode()).hexdigest()[:16]

    last = messages[-1] if messages else None
    if last is not None and last.role == content.ROLE_TOOL:
        results = [p.tool_result for p in last.parts if p.HasField("tool_result")]
        names = _tool_names_by_call_id(messages)
        reply.text = " ".join(
            f"Tool {r.name or names.get(r.call_id, 'tool')} returned: "
            f"{' '.join(part_text(p) for p in r.content)}"
            for r in results
        )
    elif last is not None and last.role == content.ROLE_USER and _wants_tool(request, last):
        tool = _chosen_tool(request, message_text(last))
        arguments = _arguments_for(tool, message_text(last))
        call_id = (
            "call_"
            + hashlib.sha256(f"{len(messages)}:{tool.name}:{arguments}".encode()).hexdigest()[:24]
        )
        reply.tool_calls.append((call_id, tool.name, arguments))
        reply.finish = gen.FINISH_REASON_TOOL_CALLS
    else:
        reply.text = _answer(request, messages, users)

    _apply_limits(reply, config)
    reply.output_tokens = (
        len(reply.text.split())
        + len(reply.thinking.split())
        + sum(len(args.split()) + 1 for _, _, args in reply.tool_calls)
    )
    return reply


def _answer(
    request: gen.GenerateRequest, messages: list[content.Message], users: list[content.Message]
) -> str:
    first = message_text(users[0]) if users else ""
    last = message_text(users[-1]) if users else ""
    fmt = request.config.response_format
    if fmt.type == gen.ResponseFormat.TYPE_JSON_OBJECT:
        return orjson.dumps({"answer": last, "user_turns": len(users)}).decode()
    if fmt.type == gen.ResponseFormat.TYPE_JSON_SCHEMA:
        schema = orjson.loads(fmt.schema_json) if fmt.schema_json else {}
        return orjson.dumps(_instance(schema, last, len(users))).decode()
    text = f'You said: "{last}". This is user turn {len(users)}; your first message was: "{first}".'
    system = [
        message_text(m) for m in messages if m.role in (content.ROLE_SYSTEM, content.ROLE_DEVELOPER)
    ]
    if system:
        text += f' System: "{" ".join(system)}".'
    return text


def _instance(schema: Any, text: str, turns: int) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "object" or (isinstance(schema, dict) and "properties" in schema):
        props = schema.get("properties", {})
        return {name: _instance(sub, text, turns) for name, sub in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return turns
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    return text


def _wants_tool(request: gen.GenerateRequest, last: content.Message) -> bool:
    if not request.tools or request.tool_choice.mode == gen.ToolChoice.MODE_NONE:
        return False
    if request.tool_choice.mode in (gen.ToolChoice.MODE_REQUIRED, gen.ToolChoice.MODE_TOOL):
        return True
    text = message_text(last)
    return bool(_TOOL_ASK.search(text)) or any(t.name in text for t in request.tools)


def _chosen_tool(request: gen.GenerateRequest, text: str) -> gen.Tool:
    if request.tool_choice.mode == gen.ToolChoice.MODE_TOOL:
        for tool in request.tools:
            if tool.name == request.tool_choice.name:
                return tool
    for tool in request.tools:
        if tool.name in text:
            return tool
    return request.tools[0]


def _arguments_for(tool: gen.Tool, text: str) -> str:
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            value = orjson.loads(text[start : end + 1])
            if isinstance(value, dict):
                return orjson.dumps(value).decode()
        except orjson.JSONDecodeError:
            pass
    schema = orjson.loads(tool.parameters_json) if tool.parameters_json else {}
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    number = _NUMBER.search(text)
    args: dict[str, Any] = {}
    for name, sub in props.items():
        kind = sub.get("type") if isinstance(sub, dict) else None
        if kind == "string" or kind is None:
            args[name] = text
        elif kind == "integer":
            args[name] = int(float(number.group())) if number else 0
        elif kind == "number":
            args[name] = float(number.group()) if number else 0
        elif kind == "boolean":
            args[name] = True
    return orjson.dumps(args).decode()


def _tool_names_by_call_id(messages: list[content.Message]) -> dict[str, str]:
    return {
        p.tool_call.id: p.tool_call.name
        for m in messages
        for p in m.parts
        if p.HasField("tool_call")
    }


def _apply_limits(reply: LocalReply, config: gen.GenerationConfig) -> None:
    for stop in config.stop:
        if stop and stop in reply.text:
            reply.text = reply.text[: reply.text.index(stop)]
            reply.finish, reply.stop_sequence = gen.FINISH_REASON_STOP_SEQUENCE, stop
    if config.HasField("max_tokens") and reply.text:
        words = reply.text.split(" ")
        budget = max(config.max_tokens - len(reply.thinking.split()), 0)
        if len(words) > budget:
            reply.text = " ".join(words[:budget])
            reply.finish, reply.stop_sequence = gen.FINISH_REASON_LENGTH, ""
