"""Shapes both directions of the Responses dialect share: content parts, the assistant-side items
(function_call, reasoning, message) that appear in request input and response output alike,
usage and the status <-> finish-reason mapping. docs/protocols/openai-responses.md#input-items,
#response-object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.dialects.field_readers import data_url, split_data_url
from rhone.dialects.openai_chat.fields import READ
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

NAME = "openai.responses"
PROVIDER = "openai"

# An image given by OpenAI file id has no canonical image field; it travels as a file part with
# this media type so that encoding it again gives back an `input_image`, not an `input_file`.
IMAGE_FILE_MEDIA_TYPE = "image/*"

# Responses splits multi-part reasoning summaries into `summary[i]`; canonical thinking is one text.
SUMMARY_JOINER = "\n\n"


# --- reading JSON safely: OpenAI's wording, shared with Chat (every failure names the field) --

expect_mapping = READ.as_object
expect_list = READ.as_list
optional_str = READ.optional_str
required_str = READ.required_str
optional_bool = READ.optional_bool
decode_base64 = READ.decode_base64
invalid = READ.invalid


def parse_data_url(url: str, param: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a base64 data URL; None for any other URL."""
    parts = split_data_url(url)
    return None if parts is None else (parts[0], decode_base64(parts[1], param))


# --- content parts (input messages, tool outputs) --------------------------------------------


def decode_content_part(part: Any, param: str) -> content.Part:
    part = expect_mapping(part, param)
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return content.Part(text=content.TextPart(text=required_str(part, "text", f"{param}.text")))
    if kind == "refusal":
        refusal = required_str(part, "refusal", f"{param}.refusal")
        return content.Part(text=content.TextPart(text=refusal))
    if kind == "input_image":
        return _decode_image(part, param)
    if kind == "input_file":
        return _decode_file(part, param)
    if not isinstance(kind, str):
        raise invalid(f"{param}.type", f"Missing or invalid content part type at '{param}.type'.")
    raise invalid(f"{param}.type", f"Unsupported content part type '{kind}' at '{param}.type'.")


def _decode_image(part: Mapping[str, Any], param: str) -> content.Part:
    detail = optional_str(part, "detail", f"{param}.detail") or ""
    url = optional_str(part, "image_url", f"{param}.image_url")
    file_id = optional_str(part, "file_id", f"{param}.file_id")
    if url:
        parsed = parse_data_url(url, f"{param}.image_url")
        if parsed is not None:
            media_type, data = parsed
            image = content.ImagePart(data=data, media_type=media_type, detail=detail)
        else:
            image = content.ImagePart(url=url, detail=detail)
        return content.Part(image=image)
    if file_id:
        return content.Part(
            file=content.FilePart(file_id=file_id, media_type=IMAGE_FILE_MEDIA_TYPE)
        )
    raise invalid(
        f"{param}.image_url", f"Missing required parameter: '{param}.image_url' (or 'file_id')."
    )


def _decode_file(part: Mapping[str, Any], param: str) -> content.Part:
    file = content.FilePart(
        file_id=optional_str(part, "file_id", f"{param}.file_id") or "",
        url=optional_str(part, "file_url", f"{param}.file_url") or "",
        filename=optional_str(part, "filename", f"{param}.filename") or "",
    )
    file_data = optional_str(part, "file_data", f"{param}.file_data")
    if file_data:
        parsed = parse_data_url(file_data, f"{param}.file_data")
        if parsed is None:  # the API also takes bare base64 here
            file.data = decode_base64(file_data, f"{param}.file_data")
        else:
            file.media_type, file.data = parsed
    if not (file.file_id or file.url or file.data):
        raise invalid(
            f"{param}.file_id",
            f"Missing required parameter: '{param}.file_id' (or 'file_data', 'file_url').",
        )
    return content.Part(file=file)


def encode_content_part(part: content.Part, *, assistant: bool) -> dict[str, Any] | None:
    """The wire content part of a canonical text/image/file part; None for any other kind.
    Assistant text must be `output_text`: the API rejects `input_text` in assistant messages."""
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "output_text" if assistant else "input_text", "text": part.text.text}
    if kind == "image":
        image = part.image
        url = image.url or data_url(image.media_type, image.data)
        out: dict[str, Any] = {"type": "input_image", "image_url": url}
        if image.detail:
            out["detail"] = image.detail
        return out
    if kind == "file":
        return _encode_file(part.file)
    return None


def _encode_file(file: content.FilePart) -> dict[str, Any]:
    if file.file_id and file.media_type.startswith("image/"):
        return {"type": "input_image", "file_id": file.file_id}
    if file.text and not (file.file_id or file.url or file.data):
        # A plain-text document (Anthropic's `text` source) has no input_file form.
        return {"type": "input_text", "text": file.text}
    out: dict[str, Any] = {"type": "input_file"}
    if file.file_id:
        out["file_id"] = file.file_id
    if file.url:
        out["file_url"] = file.url
    if file.data:
        out["file_data"] = data_url(file.media_type, file.data)
    if file.filename:
        out["filename"] = file.filename
    return out


# --- assistant-side items: the same shapes in request input and response output -------------


def decode_function_call(item: Mapping[str, Any], param: str) -> content.Part:
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise invalid(
            f"{param}.arguments", f"Invalid type for '{param}.arguments': expected a string."
        )
    return content.Part(
        tool_call=content.ToolCallPart(
            id=required_str(item, "call_id", f"{param}.call_id"),
            name=required_str(item, "name", f"{param}.name"),
            arguments=arguments,
        )
    )


def decode_reasoning(item: Mapping[str, Any], param: str) -> content.Part | None:
    """A reasoning item as thinking; None when it carries neither text nor encrypted content
    (a stored-state reference Rhone has no use for: it keeps the turn itself)."""
    texts = _texts(item, "summary", "summary_text", param)
    if not texts:
        texts = _texts(item, "content", "reasoning_text", param)
    signature = optional_str(item, "encrypted_content", f"{param}.encrypted_content") or ""
    if not texts and not signature:
        return None
    thinking = content.ThinkingPart(text=SUMMARY_JOINER.join(texts), signature=signature)
    return content.Part(thinking=thinking)


def _texts(item: Mapping[str, Any], key: str, kind: str, param: str) -> list[str]:
    texts = []
    for j, entry in enumerate(expect_list(item.get(key) or [], f"{param}.{key}")):
        where = f"{param}.{key}[{j}]"
        entry = expect_mapping(entry, where)
        if entry.get("type", kind) != kind:
            raise invalid(f"{where}.type", f"Invalid value for '{where}.type': expected '{kind}'.")
        texts.append(required_str(entry, "text", f"{where}.text"))
    return texts


# Rhone shows every provider's thinking signature as `encrypted_content`, an opaque string to
# clients. One made by another provider is tagged with its origin, so a client that sends its
# output back (stateless replay) never gets an Anthropic signature sent on to OpenAI.
_SIGNATURE_TAG = "rhone:"


def tag_signature(signature: str, origin: str) -> str:
    if not signature or origin in ("", PROVIDER):
        return signature
    return f"{_SIGNATURE_TAG}{origin}:{signature}"


def untag_signature(value: str) -> tuple[str, str]:
    """(origin, signature) of a client's `encrypted_content`; untagged content is OpenAI's."""
    if value.startswith(_SIGNATURE_TAG):
        origin, colon, signature = value[len(_SIGNATURE_TAG) :].partition(":")
        if colon and origin:
            return origin, signature
    return PROVIDER, value


def decode_message_content(value: Any, param: str) -> list[content.Part]:
    if isinstance(value, str):
        return [content.Part(text=content.TextPart(text=value))]
    parts = expect_list(value, param)
    return [decode_content_part(part, f"{param}[{j}]") for j, part in enumerate(parts)]


def output_item_parts(item: Mapping[str, Any], param: str) -> list[content.Part]:
    """Canonical parts of one output item (message, function_call, reasoning); hosted-tool
    items have no canonical form and give none."""
    kind = item.get("type")
    if kind == "message":
        return decode_message_content(item.get("content") or [], f"{param}.content")
    if kind == "function_call":
        return [decode_function_call(item, param)]
    if kind == "reasoning":
        part = decode_reasoning(item, param)
        return [] if part is None else [part]
    return []


def function_call_item(item_id: str, part: content.ToolCallPart, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": part.id,
        "name": part.name,
        "arguments": part.arguments,
    }


def reasoning_item(item_id: str, text: str, signature: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if signature:
        item["encrypted_content"] = signature
    return item


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


# --- tools and formats ----------------------------------------------------------------------


def encode_tool(tool: gen.Tool) -> dict[str, Any]:
    """A flat Responses function tool. `strict` is always sent: when it is absent, Responses
    normalizes the schema into strict mode (OpenAI function-calling guide, "strict mode"), which
    makes optional fields required; a tool from another surface must stay as it was given."""
    out: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description:
        out["description"] = tool.description
    parameters = _json_object(tool.parameters_json, f"tools.{tool.name}.parameters")
    out["parameters"] = {"type": "object", "properties": {}} if parameters is None else parameters
    out["strict"] = tool.strict if tool.HasField("strict") else False
    return out


def encode_format(fmt: gen.ResponseFormat) -> dict[str, Any] | None:
    if fmt.type == gen.ResponseFormat.TYPE_TEXT:
        return {"type": "text"}
    if fmt.type == gen.ResponseFormat.TYPE_JSON_OBJECT:
        return {"type": "json_object"}
    if fmt.type == gen.ResponseFormat.TYPE_JSON_SCHEMA:
        out: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response"}
        schema = _json_object(fmt.schema_json, "text.format.schema")
        out["schema"] = {} if schema is None else schema
        if fmt.description:
            out["description"] = fmt.description
        if fmt.HasField("strict"):
            out["strict"] = fmt.strict
        return out
    return None


def encode_tool_choice(choice: gen.ToolChoice) -> str | dict[str, Any] | None:
    mode = choice.mode
    if mode == gen.ToolChoice.MODE_TOOL:
        return {"type": "function", "name": choice.name}
    return _TOOL_CHOICE_NAMES.get(mode)


_TOOL_CHOICE_NAMES: dict[int, str] = {
    gen.ToolChoice.MODE_AUTO: "auto",
    gen.ToolChoice.MODE_NONE: "none",
    gen.ToolChoice.MODE_REQUIRED: "required",
}
TOOL_CHOICE_MODES: dict[str, int] = {name: mode for mode, name in _TOOL_CHOICE_NAMES.items()}


def _json_object(text: str, param: str) -> Any:
    """A canonical JSON-text field parsed for the wire (schemas are objects on the wire)."""
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise invalid(param, f"'{param}' is not valid JSON.") from None


# --- usage and status -----------------------------------------------------------------------


def encode_usage(usage: gen.Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def decode_usage(value: Mapping[str, Any]) -> gen.Usage:
    inputs = value.get("input_tokens_details") or {}
    outputs = value.get("output_tokens_details") or {}
    return gen.Usage(
        input_tokens=_count(value.get("input_tokens")),
        output_tokens=_count(value.get("output_tokens")),
        cached_input_tokens=_count(inputs.get("cached_tokens")),
        cache_creation_input_tokens=_count(inputs.get("cache_write_tokens")),
        reasoning_tokens=_count(outputs.get("reasoning_tokens")),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def status_of(reason: int) -> tuple[str, dict[str, str] | None]:
    """A canonical finish reason as Responses `status` and `incomplete_details`."""
    if reason == gen.FINISH_REASON_LENGTH:
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == gen.FINISH_REASON_CONTENT_FILTER:
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def finish_reason_of(status: str, incomplete: Any, has_tool_calls: bool) -> int:
    """Responses has no finish reason: a completed response that called a function finished
    for tool calls; an incomplete one says why in `incomplete_details.reason`."""
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, Mapping) else None
        if reason == "content_filter":
            return gen.FINISH_REASON_CONTENT_FILTER
        return gen.FINISH_REASON_LENGTH
    return gen.FINISH_REASON_TOOL_CALLS if has_tool_calls else gen.FINISH_REASON_STOP
