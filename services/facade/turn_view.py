"""A stored turn as the JSON the sessions API shows a person (``GET /v1/sessions/{id}/turns``).

The gRPC API hands out the proto ``Turn``; its JSON mapping (``"role": "ROLE_USER"``, ``"seq":
"1"``, parts as ``{"text": {"text": ...}}``, times as epoch milliseconds) is a wire format for
programs, not a history to read. Here the vocabulary is the public APIs' own: roles and part
types in lower case (``{"role": "user", "content": [{"type": "text", "text": ...}]}``), numbers
as numbers, times as RFC 3339. Opaque provider data (thinking signatures, encrypted compaction
content) is left out: it means nothing to a reader and is only ever sent back to its provider."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import orjson

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb


def turn_view(turn: spb.Turn) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": turn.id,
        "object": "session.turn",
        "session_id": turn.session_id,
        "seq": turn.seq,
        "created_at": rfc3339(turn.created_at_ms),
        "duration_ms": turn.duration_ms,
        "model": turn.model,
        "provider": turn.provider,
        "status": _enum_name(spb.TurnStatus.Name(turn.status), "TURN_STATUS_"),
        "finish_reason": _finish_reason(turn.finish_reason),
        "snapshot": turn.snapshot,
        "response_id": turn.response_id or None,
        "input": [message_view(m) for m in turn.input],
        "output": message_view(turn.output) if turn.HasField("output") else None,
        "usage": usage_view(turn.usage),
    }
    if turn.response_settings_json:
        view["response_settings"] = orjson.loads(turn.response_settings_json)
    return view


def message_view(message: content.Message) -> dict[str, Any]:
    view: dict[str, Any] = {"role": _enum_name(content.Role.Name(message.role), "ROLE_")}
    if message.name:
        view["name"] = message.name
    view["content"] = [part_view(part) for part in message.parts]
    return view


def part_view(part: content.Part) -> dict[str, Any]:
    kind = part.WhichOneof("kind")
    view: dict[str, Any]
    if kind == "text":
        view = {"type": "text", "text": part.text.text}
    elif kind == "image":
        image = part.image
        view = _present(
            type="image",
            url=image.url,
            media_type=image.media_type,
            data=_b64(image.data),
            detail=image.detail,
        )
    elif kind == "file":
        file = part.file
        view = _present(
            type="file",
            file_id=file.file_id,
            url=file.url,
            filename=file.filename,
            title=file.title,
            media_type=file.media_type,
            text=file.text,
            data=_b64(file.data),
        )
    elif kind == "tool_call":
        call = part.tool_call
        # The arguments stay the JSON text the model wrote, as every public API shows them.
        view = {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
    elif kind == "tool_result":
        result = part.tool_result
        view = {
            "type": "tool_result",
            "call_id": result.call_id,
            "name": result.name,
            "content": [part_view(p) for p in result.content],
            "is_error": result.is_error,
        }
    elif kind == "thinking":
        thinking = part.thinking
        view = {"type": "thinking", "text": thinking.text}
        if thinking.redacted:
            view["redacted"] = True
    elif kind == "compaction":
        view = {"type": "compaction", "id": part.compaction.id}
    else:
        view = {"type": "unknown"}
    if part.cache_control.type:
        view["cache_control"] = _present(type=part.cache_control.type, ttl=part.cache_control.ttl)
    return view


def usage_view(usage: gen.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def rfc3339(millis: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC time: ``2026-11-26T15:04:05.123Z``."""
    moment = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finish_reason(reason: int) -> str | None:
    if reason == gen.FINISH_REASON_UNSPECIFIED:
        return None
    return _enum_name(gen.FinishReason.Name(reason), "FINISH_REASON_")


def _enum_name(name: str, prefix: str) -> str:
    """``ROLE_USER`` -> ``user``: the proto enum value's own name, in the public APIs' case."""
    return name.removeprefix(prefix).lower()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii") if data else ""


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are set (an empty string is an unset proto field)."""
    return {key: value for key, value in fields.items() if value != ""}
