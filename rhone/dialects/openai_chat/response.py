"""The ``chat.completion`` object <-> ``GenerateResponse``, plus the usage, finish-reason and id
mappings the stream codecs share."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from rhone.canonical import stamp_origin
from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

from .errors import failure_from_error

PROVIDER = "openai"

_FINISH_NAMES = {
    gen.FINISH_REASON_STOP: "stop",
    gen.FINISH_REASON_LENGTH: "length",
    gen.FINISH_REASON_TOOL_CALLS: "tool_calls",
    gen.FINISH_REASON_CONTENT_FILTER: "content_filter",
    # Chat has no names for these: a matched stop sequence is a stop, a refusal is filtered.
    gen.FINISH_REASON_STOP_SEQUENCE: "stop",
    gen.FINISH_REASON_REFUSAL: "content_filter",
    gen.FINISH_REASON_PAUSE: "stop",
}
_FINISH_REASONS = {
    "stop": gen.FINISH_REASON_STOP,
    "length": gen.FINISH_REASON_LENGTH,
    "tool_calls": gen.FINISH_REASON_TOOL_CALLS,
    "content_filter": gen.FINISH_REASON_CONTENT_FILTER,
    "function_call": gen.FINISH_REASON_TOOL_CALLS,
}


def chat_id(canonical_id: str) -> str:
    if canonical_id.startswith("chatcmpl-"):
        return canonical_id
    return "chatcmpl-" + (canonical_id or uuid.uuid4().hex)


def finish_name(reason: int, called_tools: bool) -> str:
    """Chat clients loop on ``finish_reason == "tool_calls"``; a provider that says "stop"
    after calling tools (Gemini does) must still read as tool_calls here."""
    name = _FINISH_NAMES.get(reason, "stop")  # type: ignore[call-overload]
    return "tool_calls" if called_tools and name == "stop" else name


def finish_reason(name: Any, refused: bool) -> int:
    reason = _FINISH_REASONS.get(name, gen.FINISH_REASON_STOP) if name else gen.FINISH_REASON_STOP
    # A structured-output refusal ends with "stop" and a filled ``refusal`` field.
    return gen.FINISH_REASON_REFUSAL if refused and reason == gen.FINISH_REASON_STOP else reason


def usage_object(usage: gen.Usage) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": usage.cached_input_tokens}
    if usage.cache_creation_input_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_creation_input_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def usage_from_object(usage: Mapping[str, Any]) -> gen.Usage:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return gen.Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=prompt.get("cached_tokens") or 0,
        cache_creation_input_tokens=prompt.get("cache_write_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
    )


def encode_response(
    response: gen.GenerateResponse, rhone_meta: Mapping[str, Any]
) -> dict[str, Any]:
    parts = response.message.parts
    texts = [part.text.text for part in parts if part.HasField("text")]
    calls = [part.tool_call for part in parts if part.HasField("tool_call")]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ]
    body: dict[str, Any] = {
        "id": chat_id(response.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_name(response.finish_reason, bool(calls)),
            }
        ],
        "system_fingerprint": None,
    }
    if response.HasField("usage"):
        body["usage"] = usage_object(response.usage)
    if rhone_meta:
        body["rhone"] = dict(rhone_meta)
    return body


def decode_response(body: Mapping[str, Any]) -> gen.GenerateResponse:
    if body.get("error"):
        # Some compatible servers answer 200 with an error envelope.
        raise RhoneError(failure_from_error(body["error"]))
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], Mapping):
        raise RhoneError.of(gen.ERROR_CODE_INTERNAL, "The upstream chat completion has no choices.")
    choice = choices[0]
    message = choice.get("message") or {}
    parts = []
    reasoning = reasoning_text(message)
    if reasoning:
        parts.append(content.Part(thinking=content.ThinkingPart(text=reasoning)))
    text = _content_text(message.get("content"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        text += refusal
    if text:
        parts.append(content.Part(text=content.TextPart(text=text)))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(
            content.Part(
                tool_call=content.ToolCallPart(
                    id=call.get("id") or "",
                    name=function.get("name") or "",
                    arguments=function.get("arguments") or "",
                )
            )
        )
    response = gen.GenerateResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        provider=PROVIDER,
        message=content.Message(role=content.ROLE_ASSISTANT, parts=parts),
        finish_reason=finish_reason(choice.get("finish_reason"), bool(refusal)),  # type: ignore[arg-type]
    )
    stamp_origin(response.message, PROVIDER)
    if isinstance(body.get("usage"), Mapping):
        response.usage.CopyFrom(usage_from_object(body["usage"]))
    return response


def reasoning_text(message: Mapping[str, Any]) -> str:
    """Reasoning some OpenAI-compatible servers add beside content: ``reasoning_content``
    (DeepSeek, vLLM) or ``reasoning`` (newer vLLM, OpenRouter). OpenAI itself sends none."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _content_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # A few compatible servers answer with an array of text parts.
        return "".join(item.get("text") or "" for item in value if isinstance(item, Mapping))
    return ""
