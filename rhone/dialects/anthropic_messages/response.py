"""The Messages ``message`` object <-> ``GenerateResponse``, and the pieces the stream codecs
share with it: stop reasons, usage, message ids.

Usage differs in one way that matters for billing: Anthropic's ``input_tokens`` counts only the
uncached part of the prompt (cache reads and cache writes are reported beside it), while the
canonical ``input_tokens`` is the whole prompt (base.py). Encoding subtracts, decoding adds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.canonical import stamp_origin
from rhone.jsonutil import compact_json
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

from .messages import PROVIDER, text_part, tool_input

STOP_REASONS: dict[int, str] = {
    gen.FINISH_REASON_STOP: "end_turn",
    gen.FINISH_REASON_LENGTH: "max_tokens",
    gen.FINISH_REASON_TOOL_CALLS: "tool_use",
    gen.FINISH_REASON_STOP_SEQUENCE: "stop_sequence",
    gen.FINISH_REASON_REFUSAL: "refusal",
    gen.FINISH_REASON_PAUSE: "pause_turn",
    # Anthropic has no content-filter stop; a filtered answer is a refusal to its clients.
    gen.FINISH_REASON_CONTENT_FILTER: "refusal",
}
FINISH_REASONS: dict[str, gen.FinishReason] = {
    "end_turn": gen.FINISH_REASON_STOP,
    "max_tokens": gen.FINISH_REASON_LENGTH,
    "tool_use": gen.FINISH_REASON_TOOL_CALLS,
    "stop_sequence": gen.FINISH_REASON_STOP_SEQUENCE,
    "refusal": gen.FINISH_REASON_REFUSAL,
    "pause_turn": gen.FINISH_REASON_PAUSE,
    "model_context_window_exceeded": gen.FINISH_REASON_LENGTH,
}


def stop_reason(reason: int) -> str:
    return STOP_REASONS.get(reason, "end_turn")


def finish_reason(value: Any) -> gen.FinishReason:
    if not isinstance(value, str):
        return gen.FINISH_REASON_UNSPECIFIED
    return FINISH_REASONS.get(value, gen.FINISH_REASON_STOP)


def message_id(response_id: str) -> str:
    """SDKs and client code expect ``msg_`` ids; an id minted elsewhere keeps its body."""
    return response_id if response_id.startswith("msg_") else f"msg_{response_id}"


def wire_usage(usage: gen.Usage) -> dict[str, int]:
    cached, created = usage.cached_input_tokens, usage.cache_creation_input_tokens
    return {
        "input_tokens": max(usage.input_tokens - cached - created, 0),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": cached,
    }


def canonical_usage(
    input_tokens: int, output_tokens: int, cache_read: int, cache_creation: int
) -> gen.Usage:
    return gen.Usage(
        input_tokens=input_tokens + cache_read + cache_creation,
        output_tokens=output_tokens,
        cached_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
    )


def count(value: Any) -> int:
    """A token count from the wire; null or junk counts as 0 rather than failing the answer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------- encode (canonical -> client)


def encode_response(resp: gen.GenerateResponse, rhone_meta: Mapping[str, Any]) -> dict[str, Any]:
    blocks = [block for block in map(_output_block, resp.message.parts) if block is not None]
    body: dict[str, Any] = {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": blocks,
        "stop_reason": stop_reason(resp.finish_reason),
        "stop_sequence": resp.stop_sequence or None,
        "usage": wire_usage(resp.usage),
    }
    if rhone_meta:
        body["rhone"] = dict(rhone_meta)
    return body


def _output_block(part: content.Part) -> dict[str, Any] | None:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "text", "text": part.text.text}
    if kind == "tool_call":
        call = part.tool_call
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call)}
    if kind == "thinking":
        thinking = part.thinking
        if thinking.redacted:
            return {"type": "redacted_thinking", "data": thinking.data}
        return {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
    # Output images or files (another provider's) have no Messages block.
    return None


# ---------------------------------------------------------------- decode (upstream -> canonical)


def decode_response(body: Mapping[str, Any]) -> gen.GenerateResponse:
    """Reads an upstream answer leniently: a block type Rhone has no canonical form for
    (server tool use and its results) is skipped, not a failed call."""
    raw_blocks = body.get("content")
    parts = [
        part
        for part in map(_input_part, raw_blocks if isinstance(raw_blocks, list) else [])
        if part is not None
    ]
    resp = gen.GenerateResponse(
        id=text(body.get("id")),
        model=text(body.get("model")),
        provider=PROVIDER,
        message=content.Message(role=content.ROLE_ASSISTANT, parts=parts),
        finish_reason=finish_reason(body.get("stop_reason")),
        stop_sequence=text(body.get("stop_sequence")),
    )
    usage = body.get("usage")
    if isinstance(usage, Mapping):
        resp.usage.CopyFrom(
            canonical_usage(
                count(usage.get("input_tokens")),
                count(usage.get("output_tokens")),
                count(usage.get("cache_read_input_tokens")),
                count(usage.get("cache_creation_input_tokens")),
            )
        )
    stamp_origin(resp.message, PROVIDER)
    return resp


def _input_part(block: Any) -> content.Part | None:
    if not isinstance(block, Mapping):
        return None
    kind = block.get("type")
    if kind == "text":
        return text_part(text(block.get("text")))
    if kind == "tool_use":
        arguments = block.get("input")
        call = content.ToolCallPart(
            id=text(block.get("id")),
            name=text(block.get("name")),
            arguments=compact_json(arguments if isinstance(arguments, dict) else {}),
        )
        return content.Part(tool_call=call)
    if kind == "thinking":
        thinking = content.ThinkingPart(
            text=text(block.get("thinking")), signature=text(block.get("signature"))
        )
        return content.Part(thinking=thinking)
    if kind == "redacted_thinking":
        return content.Part(
            thinking=content.ThinkingPart(redacted=True, data=text(block.get("data")))
        )
    return None
