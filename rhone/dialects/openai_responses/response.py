"""An upstream's non-stream Response object as a canonical GenerateResponse
(docs/protocols/openai-responses.md#response-object)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.canonical import stamp_origin
from rhone.dialects.openai_responses import messages
from rhone.dialects.openai_responses.errors import failure_from_error
from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen


def decode_response(body: Mapping[str, Any]) -> gen.GenerateResponse:
    """A failed response (status "failed") raises its failure as a RhoneError."""
    body = messages.expect_mapping(body, "response")
    status = body.get("status") or "completed"
    if status == "failed":
        error = body.get("error")
        raise RhoneError(
            failure_from_error(
                error if isinstance(error, Mapping) else {}, "Upstream response failed."
            )
        )
    message = content.Message(role=content.ROLE_ASSISTANT)
    message.parts.extend(output_parts(body.get("output")))
    stamp_origin(message, messages.PROVIDER)
    response = gen.GenerateResponse(
        id=_text(body.get("id")),
        model=_text(body.get("model")),
        provider=messages.PROVIDER,
        message=message,
    )
    usage = body.get("usage")
    if isinstance(usage, Mapping):
        response.usage.CopyFrom(messages.decode_usage(usage))
    has_calls = any(part.HasField("tool_call") for part in message.parts)
    response.finish_reason = messages.finish_reason_of(  # type: ignore[assignment]
        status, body.get("incomplete_details"), has_calls
    )
    return response


def output_parts(output: Any) -> list[content.Part]:
    parts: list[content.Part] = []
    for i, item in enumerate(messages.expect_list(output or [], "output")):
        parts.extend(
            messages.output_item_parts(
                messages.expect_mapping(item, f"output[{i}]"), f"output[{i}]"
            )
        )
    return parts


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
