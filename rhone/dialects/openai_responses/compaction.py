"""OpenAI Responses' compaction shapes: the `compaction` item a client sends back in `input`
(`{"type": "compaction", "encrypted_content": ..., "id"?}`) and the `response.compaction`
object `POST /v1/responses/compact` answers with: the user messages, then one compaction item
(https://developers.openai.com/api/reference/resources/responses/methods/compact). Pure: what
the opaque content holds, and who may open it, is the translator's business."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rhone.dialects.openai_responses import messages
from rhone.dialects.openai_responses.messages import invalid, optional_str, required_str
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

ITEM_TYPE = "compaction"
OBJECT = "response.compaction"


def decode_compaction_item(item: Mapping[str, Any], param: str) -> content.Part:
    encrypted = required_str(item, "encrypted_content", f"{param}.encrypted_content")
    if not encrypted:
        raise invalid(
            f"{param}.encrypted_content", f"'{param}.encrypted_content' must not be empty."
        )
    item_id = optional_str(item, "id", f"{param}.id") or ""
    return content.Part(compaction=content.CompactionPart(id=item_id, encrypted_content=encrypted))


def encode_compaction_item(part: content.CompactionPart) -> dict[str, Any]:
    item: dict[str, Any] = {"type": ITEM_TYPE, "encrypted_content": part.encrypted_content}
    if part.id:
        item["id"] = part.id
    return item


def encode_compacted(
    *,
    response_id: str,
    created_at: int,
    kept: Iterable[content.Message],
    compaction: content.CompactionPart,
    usage: gen.Usage,
) -> dict[str, Any]:
    """The `response.compaction` object: each kept (user) message as a completed message
    item, then the compaction item."""
    output: list[dict[str, Any]] = []
    for n, message in enumerate(kept):
        parts = [messages.encode_content_part(part, assistant=False) for part in message.parts]
        output.append(
            {
                "id": f"msg_{response_id.removeprefix('resp_')}_{n}",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [part for part in parts if part is not None],
            }
        )
    output.append({**encode_compaction_item(compaction), "created_by": "rhone"})
    return {
        "id": response_id,
        "object": OBJECT,
        "created_at": created_at,
        "output": output,
        "usage": messages.encode_usage(usage),
    }
