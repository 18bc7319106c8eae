"""Messages ``messages`` <-> canonical messages, both directions.

Anthropic has two roles and puts tool results in user turns as ``tool_result`` blocks; the
canonical form keeps them in ROLE_TOOL messages. So a user turn that mixes results with other
blocks decodes to a ROLE_TOOL message (the results) followed by a ROLE_USER message (the rest),
and on the way back a ROLE_TOOL message and the ROLE_USER message right after it become one
user turn again, results first (the API wants ``tool_result`` blocks at the front of the turn
that answers a ``tool_use``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from rhone.errors import RhoneError
from rhone.jsonutil import compact_json
from rhone.v1 import content_pb2 as content

from .fields import (
    as_list,
    as_object,
    bad_tag,
    decode_base64,
    encode_base64,
    invalid,
    optional_bool,
    optional_str,
    required,
    required_str,
)

PROVIDER = "anthropic"

_USER_TAGS = ("text", "image", "document", "tool_result")
_ASSISTANT_TAGS = ("text", "tool_use", "thinking", "redacted_thinking")
_RESULT_TAGS = ("text", "image", "document")
_IMAGE_SOURCES = ("base64", "url")
_DOCUMENT_SOURCES = ("base64", "text", "content", "url", "file")

# ---------------------------------------------------------------- decode (client -> canonical)


def decode_messages(value: Any) -> list[content.Message]:
    if value is None:
        raise invalid("messages", "Field required")
    # Anthropic's tool_result names only the call; the canonical result also names the tool
    # (Gemini's functionResponse needs it), which an earlier tool_use in the same body gives.
    tool_names: dict[str, str] = {}
    decoded: list[content.Message] = []
    messages = as_list(value, "messages")
    if not messages:
        # As api.anthropic.com answers an empty conversation.
        raise invalid("messages", "at least one message is required")
    for i, raw in enumerate(messages):
        param = f"messages.{i}"
        message = as_object(raw, param)
        role = required(message, "role", f"{param}.role")
        body = required(message, "content", f"{param}.content")
        if role == "user":
            decoded.extend(_decode_user(body, f"{param}.content", tool_names))
        elif role == "assistant":
            decoded.append(_decode_assistant(body, f"{param}.content", tool_names))
        else:
            raise invalid(f"{param}.role", "Input should be 'user' or 'assistant'")
    return decoded


def decode_system(value: Any) -> list[content.Message]:
    """``system`` (a string or text blocks) -> one leading ROLE_SYSTEM message."""
    if isinstance(value, str):
        return [_message(content.ROLE_SYSTEM, [text_part(value)])]
    items = as_list(value, "system")
    parts = []
    for j, raw in enumerate(items):
        block = as_object(raw, f"system.{j}")
        kind = required(block, "type", f"system.{j}.type")
        if kind != "text":
            raise bad_tag(f"system.{j}.type", kind, ("text",))
        parts.append(text_part(required_str(block, "text", f"system.{j}.text")))
        decode_cache_control(block, f"system.{j}", parts[-1].cache_control)
    return [_message(content.ROLE_SYSTEM, parts)] if parts else []


def _decode_user(body: Any, param: str, names: dict[str, str]) -> list[content.Message]:
    if isinstance(body, str):
        return [_message(content.ROLE_USER, [text_part(body)])]
    results, rest = [], []
    for j, raw in enumerate(_blocks(body, param)):
        block_param = f"{param}.{j}"
        block = as_object(raw, block_param)
        kind = required(block, "type", f"{block_param}.type")
        if kind == "tool_result":
            results.append(_tool_result(block, block_param, names))
            decode_cache_control(block, block_param, results[-1].cache_control)
        elif kind in _USER_TAGS:
            rest.append(_media_block(block, kind, block_param))
            decode_cache_control(block, block_param, rest[-1].cache_control)
        else:
            raise bad_tag(f"{block_param}.type", kind, _USER_TAGS)
    messages = []
    if results:
        messages.append(_message(content.ROLE_TOOL, results))
    if rest or not results:
        messages.append(_message(content.ROLE_USER, rest))
    return messages


def _decode_assistant(body: Any, param: str, names: dict[str, str]) -> content.Message:
    if isinstance(body, str):
        return _message(content.ROLE_ASSISTANT, [text_part(body)])
    parts = []
    for j, raw in enumerate(_blocks(body, param)):
        block_param = f"{param}.{j}"
        block = as_object(raw, block_param)
        kind = required(block, "type", f"{block_param}.type")
        if kind == "text":
            parts.append(text_part(required_str(block, "text", f"{block_param}.text")))
        elif kind == "tool_use":
            part = _tool_use(block, block_param)
            names[part.tool_call.id] = part.tool_call.name
            parts.append(part)
        elif kind == "thinking":
            thinking = content.ThinkingPart(
                text=required_str(block, "thinking", f"{block_param}.thinking"),
                signature=optional_str(block, "signature", f"{block_param}.signature") or "",
            )
            parts.append(content.Part(thinking=thinking))
        elif kind == "redacted_thinking":
            data = required_str(block, "data", f"{block_param}.data")
            parts.append(content.Part(thinking=content.ThinkingPart(redacted=True, data=data)))
        else:
            raise bad_tag(f"{block_param}.type", kind, _ASSISTANT_TAGS)
        decode_cache_control(block, block_param, parts[-1].cache_control)
    return _message(content.ROLE_ASSISTANT, parts)


def _blocks(body: Any, param: str) -> list[Any]:
    if not isinstance(body, list):
        raise invalid(param, "Input should be a valid string or a valid list of content blocks")
    return body


def _media_block(block: Mapping[str, Any], kind: str, param: str) -> content.Part:
    if kind == "text":
        return text_part(required_str(block, "text", f"{param}.text"))
    if kind == "image":
        return _image(block, param)
    return _document(block, param)


def _source(block: Mapping[str, Any], param: str, tags: tuple[str, ...]) -> Mapping[str, Any]:
    source = as_object(required(block, "source", f"{param}.source"), f"{param}.source")
    kind = required(source, "type", f"{param}.source.type")
    if kind not in tags:
        raise bad_tag(f"{param}.source.type", kind, tags)
    return source


def _image(block: Mapping[str, Any], param: str) -> content.Part:
    source = _source(block, param, _IMAGE_SOURCES)
    p = f"{param}.source"
    if source["type"] == "url":
        return content.Part(image=content.ImagePart(url=required_str(source, "url", f"{p}.url")))
    image = content.ImagePart(
        data=decode_base64(required_str(source, "data", f"{p}.data"), f"{p}.data"),
        media_type=required_str(source, "media_type", f"{p}.media_type"),
    )
    return content.Part(image=image)


def _document(block: Mapping[str, Any], param: str) -> content.Part:
    source = _source(block, param, _DOCUMENT_SOURCES)
    p = f"{param}.source"
    file = content.FilePart(title=optional_str(block, "title", f"{param}.title") or "")
    kind = source["type"]
    if kind == "base64":
        file.data = decode_base64(required_str(source, "data", f"{p}.data"), f"{p}.data")
        file.media_type = required_str(source, "media_type", f"{p}.media_type")
    elif kind == "text":
        file.text = required_str(source, "data", f"{p}.data")
        file.media_type = "text/plain"
    elif kind == "content":
        file.text = _content_source_text(required(source, "content", f"{p}.content"), p)
        file.media_type = "text/plain"
    elif kind == "url":
        file.url = required_str(source, "url", f"{p}.url")
    else:
        file.file_id = required_str(source, "file_id", f"{p}.file_id")
    return content.Part(file=file)


def _content_source_text(value: Any, param: str) -> str:
    """A ``content`` document source is a string or text blocks (images there have no canonical
    home); the canonical file keeps it as one text."""
    if isinstance(value, str):
        return value
    texts = []
    for j, raw in enumerate(as_list(value, f"{param}.content")):
        block = as_object(raw, f"{param}.content.{j}")
        kind = required(block, "type", f"{param}.content.{j}.type")
        if kind != "text":
            raise bad_tag(f"{param}.content.{j}.type", kind, ("text",))
        texts.append(required_str(block, "text", f"{param}.content.{j}.text"))
    return "\n".join(texts)


def _tool_use(block: Mapping[str, Any], param: str) -> content.Part:
    arguments = as_object(required(block, "input", f"{param}.input"), f"{param}.input")
    call = content.ToolCallPart(
        id=required_str(block, "id", f"{param}.id"),
        name=required_str(block, "name", f"{param}.name"),
        arguments=compact_json(arguments),
    )
    return content.Part(tool_call=call)


def _tool_result(block: Mapping[str, Any], param: str, names: dict[str, str]) -> content.Part:
    call_id = required_str(block, "tool_use_id", f"{param}.tool_use_id")
    value = block.get("content")
    parts: list[content.Part] = []
    if isinstance(value, str):
        parts.append(text_part(value))
    elif value is not None:
        for j, raw in enumerate(_blocks(value, f"{param}.content")):
            item_param = f"{param}.content.{j}"
            item = as_object(raw, item_param)
            kind = required(item, "type", f"{item_param}.type")
            if kind not in _RESULT_TAGS:
                raise bad_tag(f"{item_param}.type", kind, _RESULT_TAGS)
            parts.append(_media_block(item, kind, item_param))
    result = content.ToolResultPart(
        call_id=call_id,
        name=names.get(call_id, ""),
        content=parts,
        is_error=bool(optional_bool(block, "is_error", f"{param}.is_error")),
    )
    return content.Part(tool_result=result)


def decode_cache_control(
    block: Mapping[str, Any], param: str, target: content.CacheControl
) -> None:
    """A block's ``cache_control`` breakpoint onto its canonical part (or tool), so that it
    reaches Anthropic again instead of being dropped."""
    value = block.get("cache_control")
    if value is None:
        return
    fields = as_object(value, f"{param}.cache_control")
    target.type = required_str(fields, "type", f"{param}.cache_control.type")
    target.ttl = optional_str(fields, "ttl", f"{param}.cache_control.ttl") or ""


def encode_cache_control(block: dict[str, Any], control: content.CacheControl) -> dict[str, Any]:
    """Adds a part's (or tool's) breakpoint to its encoded block."""
    if control.type:
        block["cache_control"] = {"type": control.type}
        if control.ttl:
            block["cache_control"]["ttl"] = control.ttl
    return block


def text_part(text: str) -> content.Part:
    return content.Part(text=content.TextPart(text=text))


def _message(role: content.Role, parts: list[content.Part]) -> content.Message:
    return content.Message(role=role, parts=parts)


# ---------------------------------------------------------------- encode (canonical -> upstream)


def encode_messages(messages: Iterable[content.Message]) -> list[dict[str, Any]]:
    """The conversation turns, without system/developer messages (the caller puts those in
    ``system``). Turns left with nothing Anthropic can carry are dropped: the API rejects empty
    content, and merges the consecutive same-role turns that dropping may leave."""
    encoded: list[dict[str, Any]] = []
    results_turn: dict[str, Any] | None = None
    for i, message in enumerate(messages):
        role = message.role
        if role == content.ROLE_TOOL:
            blocks = [
                encode_cache_control(_encode_tool_result(p.tool_result), p.cache_control)
                for p in message.parts
                if _is_result(p)
            ]
            results_turn = {"role": "user", "content": blocks} if blocks else None
            if results_turn is not None:
                encoded.append(results_turn)
            continue
        if role == content.ROLE_USER:
            blocks = [b for b in (_encode_user_part(p) for p in message.parts) if b is not None]
            if results_turn is not None:
                results_turn["content"].extend(_non_empty(blocks))
            elif blocks:
                encoded.append({"role": "user", "content": _compact(blocks)})
        elif role == content.ROLE_ASSISTANT:
            blocks = [b for b in (_encode_assistant_part(p) for p in message.parts) if b]
            if blocks:
                encoded.append({"role": "assistant", "content": _compact(blocks)})
        elif role not in (content.ROLE_SYSTEM, content.ROLE_DEVELOPER):
            raise RhoneError.invalid(f"Message {i} has no role.", param=f"messages.{i}.role")
        results_turn = None
    return encoded


def _is_result(part: content.Part) -> bool:
    return part.HasField("tool_result")


def _compact(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A turn of one text travels as a plain string (how most clients write it)."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
        text: str = blocks[0]["text"]
        return text
    return _non_empty(blocks)


def _non_empty(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Anthropic rejects empty text blocks ("text content blocks must be non-empty").
    return [b for b in blocks if b["type"] != "text" or b["text"]]


def _encode_assistant_part(part: content.Part) -> dict[str, Any] | None:
    block = _encode_assistant_block(part)
    if block is not None and block["type"] in ("text", "tool_use"):
        encode_cache_control(block, part.cache_control)
    return block


def _encode_assistant_block(part: content.Part) -> dict[str, Any] | None:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "text", "text": part.text.text}
    if kind == "tool_call":
        call = part.tool_call
        # Gemini's thoughtSignature on a call has no Anthropic home and is left out.
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call)}
    if kind == "thinking":
        return _encode_thinking(part.thinking)
    return None


def _encode_thinking(thinking: content.ThinkingPart) -> dict[str, Any] | None:
    # Another provider's reasoning (or one without Anthropic's signature) fails the API's
    # signature check; it is left out rather than sent broken.
    if thinking.origin not in ("", PROVIDER):
        return None
    if thinking.redacted:
        return {"type": "redacted_thinking", "data": thinking.data} if thinking.data else None
    if not thinking.signature:
        return None
    return {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}


def tool_input(call: content.ToolCallPart) -> dict[str, Any]:
    """Anthropic carries arguments as an object; text that is not a JSON object (a model cut
    off mid-call on another provider) becomes ``{}`` rather than a request the API rejects."""
    try:
        value = orjson.loads(call.arguments) if call.arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _encode_tool_result(result: content.ToolResultPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id}
    items = [b for b in (_encode_user_part(p) for p in result.content) if b is not None]
    if items:
        block["content"] = _compact(items)
    if result.is_error:
        block["is_error"] = True
    return block


def _encode_user_part(part: content.Part) -> dict[str, Any] | None:
    block = _encode_user_block(part)
    return None if block is None else encode_cache_control(block, part.cache_control)


def _encode_user_block(part: content.Part) -> dict[str, Any] | None:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "text", "text": part.text.text}
    if kind == "image":
        return _encode_image(part.image)
    if kind == "file":
        return _encode_file(part.file)
    return None


def _encode_image(image: content.ImagePart) -> dict[str, Any]:
    if image.url:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    return _base64_block("image", image.media_type or "image/png", image.data)


def _base64_block(kind: str, media_type: str, data: bytes) -> dict[str, Any]:
    source = {"type": "base64", "media_type": media_type, "data": encode_base64(data)}
    return {"type": kind, "source": source}


def _encode_file(file: content.FilePart) -> dict[str, Any]:
    media_type = file.media_type
    if file.data and media_type.startswith("image/"):
        return _base64_block("image", media_type, file.data)
    if file.file_id:
        block: dict[str, Any] = {
            "type": "document",
            "source": {"type": "file", "file_id": file.file_id},
        }
    elif file.text or media_type.startswith("text/"):
        # Base64 documents must be PDFs; plain text travels as a text source.
        text = file.text or file.data.decode("utf-8", errors="replace")
        source = {"type": "text", "media_type": "text/plain", "data": text}
        block = {"type": "document", "source": source}
    elif file.url:
        block = {"type": "document", "source": {"type": "url", "url": file.url}}
    elif file.data or media_type:
        block = _base64_block("document", media_type or "application/pdf", file.data)
    else:
        raise RhoneError.invalid("A file part has no id, data, text or URL to send.")
    if file.title or file.filename:
        block["title"] = file.title or file.filename
    return block
