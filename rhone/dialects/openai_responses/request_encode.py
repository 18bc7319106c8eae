"""A canonical request as the body of an upstream `POST /v1/responses`
(docs/protocols/openai-responses.md#request-fields, docs/protocols/upstreams.md).

Rhone keeps the conversation, so the upstream never stores it (`store: false`) and every call
carries the whole transcript; reasoning is asked back encrypted so it can be replayed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rhone.dialects.openai_responses import compaction, messages
from rhone.jsonutil import dict_from_struct
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_ROLE_NAMES: dict[int, str] = {
    content.ROLE_SYSTEM: "system",
    content.ROLE_DEVELOPER: "developer",
    content.ROLE_USER: "user",
    content.ROLE_ASSISTANT: "assistant",
}
_LEADING_ROLES = (content.ROLE_SYSTEM, content.ROLE_DEVELOPER)
# Signatures made by another provider mean nothing to OpenAI (base.py, stamp_origin).
_OWN_ORIGINS = ("", "openai")
# Keys only Rhone decides upstream, whatever a client's extras say.
_RESERVED = frozenset({"store", "stream", "previous_response_id", "conversation", "background"})
_ENCRYPTED_REASONING = "reasoning.encrypted_content"


def encode_request(req: gen.GenerateRequest, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": req.model}
    leading = 0
    while leading < len(req.messages) and req.messages[leading].role in _LEADING_ROLES:
        leading += 1
    instructions = _instructions(req.messages[:leading])
    if instructions:
        body["instructions"] = instructions
    items = [item for message in req.messages[leading:] for item in _message_items(message)]
    body["input"] = items
    if req.tools:
        body["tools"] = [messages.encode_tool(tool) for tool in req.tools]
    choice = messages.encode_tool_choice(req.tool_choice)
    if choice is not None:
        body["tool_choice"] = choice
    _encode_config(req.config, body)
    if req.metadata:
        body["metadata"] = dict(req.metadata)
    if req.extras_dialect == messages.NAME:
        _merge_extras(body, dict_from_struct(req.extras))
    if "reasoning" in body or any(item.get("type") == "reasoning" for item in items):
        include = body.setdefault("include", [])
        if _ENCRYPTED_REASONING not in include:
            include.append(_ENCRYPTED_REASONING)
    body["store"] = False
    body["stream"] = stream
    return body


def _instructions(messages: Iterable[content.Message]) -> str:
    texts = [
        part.text.text for message in messages for part in message.parts if part.HasField("text")
    ]
    return "\n\n".join(text for text in texts if text)


def _message_items(message: content.Message) -> list[dict[str, Any]]:
    """One message's items, in order: its text/image/file parts gathered into message items,
    its tool calls, tool results and reasoning as items of their own."""
    role = _ROLE_NAMES.get(message.role, "user")
    assistant = message.role == content.ROLE_ASSISTANT
    items: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for part in message.parts:
        wire_part = messages.encode_content_part(part, assistant=assistant)
        if wire_part is not None:
            pending.append(wire_part)
            continue
        if pending:
            items.append({"type": "message", "role": role, "content": pending})
            pending = []
        item = _item(part)
        if item is not None:
            items.append(item)
    if pending:
        items.append({"type": "message", "role": role, "content": pending})
    return items


def _item(part: content.Part) -> dict[str, Any] | None:
    kind = part.WhichOneof("kind")
    if kind == "tool_call":
        call = part.tool_call
        return {
            "type": "function_call",
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
        }
    if kind == "tool_result":
        result = part.tool_result
        return {
            "type": "function_call_output",
            "call_id": result.call_id,
            "output": _tool_output(result.content),
        }
    if kind == "thinking":
        return _reasoning(part.thinking)
    if kind == "compaction":
        return compaction.encode_compaction_item(part.compaction)
    return None


def _tool_output(parts: Iterable[content.Part]) -> str | list[dict[str, Any]]:
    parts = list(parts)
    if not parts:
        return ""
    if len(parts) == 1 and parts[0].HasField("text"):
        return parts[0].text.text
    encoded = (messages.encode_content_part(part, assistant=False) for part in parts)
    return [part for part in encoded if part is not None]


def _reasoning(thinking: content.ThinkingPart) -> dict[str, Any] | None:
    """Only OpenAI's own encrypted reasoning can be replayed, and without `store` only the
    encrypted content makes it useful. The item id is left out, as stateless clients (Codex)
    do: with `store: false` an id would point at nothing."""
    if thinking.redacted or thinking.origin not in _OWN_ORIGINS or not thinking.signature:
        return None
    summary = [{"type": "summary_text", "text": thinking.text}] if thinking.text else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": thinking.signature}


def _encode_config(config: gen.GenerationConfig, body: dict[str, Any]) -> None:
    """top_k, stop and seed have no Responses field and are not sent."""
    if config.HasField("max_tokens"):
        body["max_output_tokens"] = config.max_tokens
    if config.HasField("temperature"):
        body["temperature"] = config.temperature
    if config.HasField("top_p"):
        body["top_p"] = config.top_p
    if config.HasField("parallel_tool_calls"):
        body["parallel_tool_calls"] = config.parallel_tool_calls
    fmt = messages.encode_format(config.response_format)
    if fmt is not None:
        body["text"] = {"format": fmt}
    reasoning: dict[str, Any] = {}
    effort = config.reasoning_effort or _effort_for_budget(config)
    if effort:
        reasoning["effort"] = effort
    if config.include_thinking:
        reasoning["summary"] = "auto"
    if reasoning:
        body["reasoning"] = reasoning


def _effort_for_budget(config: gen.GenerationConfig) -> str:
    """A token budget (Anthropic, Gemini) as the nearest effort; OpenAI takes no budget."""
    if not config.HasField("thinking_budget") or config.thinking_budget <= 0:
        return ""
    if config.thinking_budget <= 2048:
        return "low"
    return "medium" if config.thinking_budget <= 8192 else "high"


def _merge_extras(body: dict[str, Any], extras: dict[str, Any]) -> None:
    """Extras hold only what had no canonical field, so they fill gaps: hosted tools join the
    function tools, `text.verbosity` and `reasoning.summary` styles join their objects."""
    for key, value in extras.items():
        if key in _RESERVED:
            continue
        current = body.get(key)
        if current is None:
            body[key] = value
        elif isinstance(current, dict) and isinstance(value, dict):
            body[key] = {**current, **value}
        elif isinstance(current, list) and isinstance(value, list):
            body[key] = current + [item for item in value if item not in current]
