"""Whole GenerateContentResponse bodies both ways, and the chunk shape the stream encoder shares.

decode_response runs the stream decoder over the one body, so a whole answer and a streamed one
fold into the same canonical response.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from rhone import canonical
from rhone.dialects.gemini import fields, messages
from rhone.dialects.gemini.stream_decode import StreamDecoder
from rhone.dialects.gemini.usage import usage_metadata
from rhone.errors import RhoneError
from rhone.v1 import generation_pb2 as gen


def response_body(
    flavor: fields.Flavor,
    wire_parts: list[dict[str, Any]],
    *,
    response_id: str,
    model: str,
    finish_reason: str = "",
    usage: gen.Usage | None = None,
    create_time: str = "",
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": wire_parts}}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    candidate["index"] = 0
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage_metadata(usage)
    body["modelVersion"] = model
    body["responseId"] = response_id
    if flavor.vertex:
        body["createTime"] = create_time or now()
    return body


def now() -> str:
    """Vertex's ``createTime``: an RFC 3339 timestamp in UTC."""
    return (
        datetime.datetime.now(datetime.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def finish_reason(reason: int) -> str:
    return fields.FINISH_TO_WIRE.get(reason, "STOP")


def encode_response(
    flavor: fields.Flavor, response: gen.GenerateResponse, rhone_meta: Mapping[str, Any]
) -> dict[str, Any]:
    body = response_body(
        flavor,
        messages.encode_parts(response.message.parts, messages.SURFACE),
        response_id=response.id,
        model=response.model,
        finish_reason=finish_reason(response.finish_reason),
        usage=response.usage if response.HasField("usage") else None,
    )
    if rhone_meta:
        body["rhone"] = dict(rhone_meta)
    return body


def decode_response(flavor: fields.Flavor, body: Mapping[str, Any]) -> gen.GenerateResponse:
    decoder = StreamDecoder(flavor.provider)
    events = decoder.feed(None, body)
    if not decoder.done:
        events.extend(decoder.finish(gen.FINISH_REASON_STOP))
    for event in events:
        if event.HasField("failure"):
            raise RhoneError(event.failure)
    return canonical.fold_events(events)
