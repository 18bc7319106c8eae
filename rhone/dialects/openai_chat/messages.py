"""Chat ``messages`` <-> canonical messages, both directions.

Chat keeps an assistant turn's text in ``content`` and its calls in ``tool_calls``, and sends
each tool result as its own ``tool`` message; canonical messages hold typed parts in order. So
a decoded assistant message is its text parts followed by its tool calls, and a canonical
ROLE_TOOL message becomes one ``tool`` message per result."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rhone.errors import RhoneError
from rhone.jsonutil import compact_json
from rhone.v1 import content_pb2 as content

from .fields import (
    as_list,
    as_object,
    bad_value,
    data_url,
    decode_base64,
    missing,
    one_of,
    optional_str,
    parse_data_url,
    required,
    required_str,
    wrong_type,
)

_ROLES = {
    "developer": content.ROLE_DEVELOPER,
    "system": content.ROLE_SYSTEM,
    "user": content.ROLE_USER,
    "assistant": content.ROLE_ASSISTANT,
    "tool": content.ROLE_TOOL,
}
_ROLE_NAMES = {role: name for name, role in _ROLES.items()}

# input_audio names a format; canonical parts carry a media type. "audio/mp3" is what Gemini's
# inline data expects; "audio/mpeg" (the IANA name) and "audio/x-wav" are accepted on the way out.
_AUDIO_MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}

_TEXT_ONLY = ("string", "array of text parts")


# ---------------------------------------------------------------- decode (client -> canonical)


def decode_messages(value: Any) -> list[content.Message]:
    if value is None:
        raise missing("messages")
    items = as_list(value, "messages")
    if not items:
        raise RhoneError.invalid(
            "Invalid 'messages': empty array. Expected an array with at least one message.",
            param="messages",
        )
    # Chat's tool messages carry only the call id; the canonical result also names the tool
    # (Gemini's functionResponse needs it), which the assistant turn in the same body gives.
    tool_names: dict[str, str] = {}
    decoded = []
    for i, raw in enumerate(items):
        param = f"messages[{i}]"
        message = as_object(raw, param)
        role = one_of(required(message, "role", f"{param}.role"), _ROLES, f"{param}.role")
        decoded.append(_DECODERS[role](message, param, tool_names))
    return decoded


def _decode_instructions(
    message: Mapping[str, Any], param: str, _names: dict[str, str]
) -> content.Message:
    parts = _text_parts(required(message, "content", f"{param}.content"), f"{param}.content")
    return _message(_ROLES[message["role"]], parts, message, param)


def _decode_user(message: Mapping[str, Any], param: str, _names: dict[str, str]) -> content.Message:
    value = required(message, "content", f"{param}.content")
    if isinstance(value, str):
        parts = [_text(value)]
    else:
        items = _part_list(value, f"{param}.content", ("string", "array of content parts"))
        parts = [_user_part(item, f"{param}.content[{j}]") for j, item in enumerate(items)]
    return _message(content.ROLE_USER, parts, message, param)


def _decode_assistant(
    message: Mapping[str, Any], param: str, names: dict[str, str]
) -> content.Message:
    for unsupported in ("audio", "function_call"):
        if message.get(unsupported) is not None:
            raise RhoneError.invalid(
                f"'{param}.{unsupported}' is not supported by Rhone; send the turn's text in "
                "'content' and its calls in 'tool_calls'.",
                param=f"{param}.{unsupported}",
            )
    value = message.get("content")
    parts = [] if value is None else _text_parts(value, f"{param}.content", refusal=True)
    refusal = optional_str(message, "refusal", f"{param}.refusal")
    if refusal:
        # No canonical refusal part: the refusal is what the model said, so it stays as text.
        parts.append(_text(refusal))
    # The SDK's stream accumulator leaves content "" on a tool-call-only turn, and Anthropic
    # rejects empty text blocks: an empty assistant text is no text.
    parts = [part for part in parts if part.text.text]
    calls = message.get("tool_calls")
    if calls is not None:
        for j, raw in enumerate(as_list(calls, f"{param}.tool_calls")):
            part = _tool_call(raw, f"{param}.tool_calls[{j}]")
            names[part.tool_call.id] = part.tool_call.name
            parts.append(part)
    return _message(content.ROLE_ASSISTANT, parts, message, param)


def _decode_tool(message: Mapping[str, Any], param: str, names: dict[str, str]) -> content.Message:
    call_id = required_str(message, "tool_call_id", f"{param}.tool_call_id")
    output = _text_parts(required(message, "content", f"{param}.content"), f"{param}.content")
    result = content.ToolResultPart(call_id=call_id, name=names.get(call_id, ""), content=output)
    return content.Message(role=content.ROLE_TOOL, parts=[content.Part(tool_result=result)])


_DECODERS: dict[str, Callable[[Mapping[str, Any], str, dict[str, str]], content.Message]] = {
    "developer": _decode_instructions,
    "system": _decode_instructions,
    "user": _decode_user,
    "assistant": _decode_assistant,
    "tool": _decode_tool,
}


def _message(
    role: int, parts: list[content.Part], message: Mapping[str, Any], param: str
) -> content.Message:
    name = optional_str(message, "name", f"{param}.name") or ""
    return content.Message(role=role, parts=parts, name=name)  # type: ignore[arg-type]


def _text(text: str) -> content.Part:
    return content.Part(text=content.TextPart(text=text))


def _part_list(value: Any, param: str, expected: tuple[str, str]) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_type(param, f"one of a {expected[0]} or {expected[1]}", value)
    return value


def _text_parts(value: Any, param: str, *, refusal: bool = False) -> list[content.Part]:
    """A string or an array of text parts (and, on assistant turns, refusal parts)."""
    if isinstance(value, str):
        return [_text(value)]
    parts = []
    for j, raw in enumerate(_part_list(value, param, _TEXT_ONLY)):
        item_param = f"{param}[{j}]"
        item = as_object(raw, item_param)
        kind = required(item, "type", f"{item_param}.type")
        if kind == "text":
            parts.append(_text(required_str(item, "text", f"{item_param}.text", non_empty=False)))
        elif kind == "refusal" and refusal:
            parts.append(_text(required_str(item, "refusal", f"{item_param}.refusal")))
        else:
            raise bad_value(
                f"{item_param}.type", kind, ("text", "refusal") if refusal else ("text",)
            )
    return parts


def _user_part(raw: Any, param: str) -> content.Part:
    item = as_object(raw, param)
    kind = required(item, "type", f"{param}.type")
    if kind == "text":
        return _text(required_str(item, "text", f"{param}.text", non_empty=False))
    if kind == "image_url":
        return _image(_object_field(item, "image_url", param), f"{param}.image_url")
    if kind == "input_audio":
        return _audio(_object_field(item, "input_audio", param), f"{param}.input_audio")
    if kind == "file":
        return _file(_object_field(item, "file", param), f"{param}.file")
    raise bad_value(f"{param}.type", kind, ("text", "image_url", "input_audio", "file"))


def _object_field(item: Mapping[str, Any], key: str, param: str) -> Mapping[str, Any]:
    return as_object(required(item, key, f"{param}.{key}"), f"{param}.{key}")


def _image(image: Mapping[str, Any], param: str) -> content.Part:
    url = required_str(image, "url", f"{param}.url")
    detail = optional_str(image, "detail", f"{param}.detail") or ""
    if url.startswith("data:"):
        media_type, data = parse_data_url(url, f"{param}.url")
        part = content.ImagePart(data=data, media_type=media_type, detail=detail)
    elif url.startswith(("http://", "https://")):
        part = content.ImagePart(url=url, detail=detail)
    else:
        raise RhoneError.invalid(
            f"Invalid '{param}.url': expected an http(s) URL or a base64 data URL.",
            param=f"{param}.url",
        )
    return content.Part(image=part)


def _audio(audio: Mapping[str, Any], param: str) -> content.Part:
    data = decode_base64(required_str(audio, "data", f"{param}.data"), f"{param}.data")
    fmt = one_of(
        required(audio, "format", f"{param}.format"), _AUDIO_MEDIA_TYPES, f"{param}.format"
    )
    return content.Part(file=content.FilePart(data=data, media_type=_AUDIO_MEDIA_TYPES[fmt]))


def _file(file: Mapping[str, Any], param: str) -> content.Part:
    file_id = optional_str(file, "file_id", f"{param}.file_id") or ""
    file_data = optional_str(file, "file_data", f"{param}.file_data") or ""
    filename = optional_str(file, "filename", f"{param}.filename") or ""
    if not file_id and not file_data:
        raise RhoneError.invalid(
            f"Invalid '{param}': expected one of 'file_id' or 'file_data'.", param=param
        )
    part = content.FilePart(file_id=file_id, filename=filename)
    if file_data.startswith("data:"):
        part.media_type, part.data = parse_data_url(file_data, f"{param}.file_data")
    elif file_data:
        # The SDK's type calls file_data "base64 encoded file data"; OpenAI's guide sends a data
        # URL. Accept both.
        part.data = decode_base64(file_data, f"{param}.file_data")
    return content.Part(file=part)


def _tool_call(raw: Any, param: str) -> content.Part:
    call = as_object(raw, param)
    kind = call.get("type") or "function"
    if kind != "function":
        raise bad_value(f"{param}.type", kind, ("function",))
    function = _object_field(call, "function", param)
    arguments = required(function, "arguments", f"{param}.function.arguments")
    if isinstance(arguments, Mapping):
        # Some clients send the parsed object; the wire format says JSON text.
        arguments = compact_json(arguments)
    elif not isinstance(arguments, str):
        raise wrong_type(f"{param}.function.arguments", "a string", arguments)
    return content.Part(
        tool_call=content.ToolCallPart(
            id=required_str(call, "id", f"{param}.id"),
            name=required_str(function, "name", f"{param}.function.name"),
            arguments=arguments,
        )
    )


# ---------------------------------------------------------------- encode (canonical -> upstream)


def encode_messages(messages: Iterable[content.Message]) -> list[dict[str, Any]]:
    encoded: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role == content.ROLE_TOOL:
            encoded.extend(_encode_tool_results(message))
            continue
        role = _ROLE_NAMES.get(message.role)
        if role is None:
            raise RhoneError.invalid(f"Message {i} has no role.", param=f"messages[{i}].role")
        if message.role == content.ROLE_ASSISTANT:
            item = _encode_assistant(message)
        elif message.role == content.ROLE_USER:
            item = {"role": role, "content": _encode_user_content(message.parts, i)}
        else:
            item = {"role": role, "content": _joined_text(message.parts)}
        if message.name:
            item["name"] = message.name
        encoded.append(item)
    return encoded


def _joined_text(parts: Iterable[content.Part]) -> str | list[dict[str, Any]]:
    """One text part travels as a plain string, several as an array (so they decode back as
    several); parts chat cannot carry here (images in a tool result, thinking) are left out."""
    texts = [text for text in map(_part_text, parts) if text is not None]
    if len(texts) <= 1:
        return texts[0] if texts else ""
    return [{"type": "text", "text": text} for text in texts]


def _part_text(part: content.Part) -> str | None:
    if part.HasField("text"):
        return part.text.text
    if part.HasField("file") and part.file.text:
        return part.file.text
    return None


def _encode_assistant(message: content.Message) -> dict[str, Any]:
    texts = [part for part in message.parts if part.HasField("text")]
    calls = [part.tool_call for part in message.parts if part.HasField("tool_call")]
    # Thinking has no chat form and is dropped; content is null on a call-only turn.
    item: dict[str, Any] = {"role": "assistant", "content": _joined_text(texts) if texts else None}
    if calls:
        item["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ]
    return item


def _encode_user_content(parts: Iterable[content.Part], i: int) -> str | list[dict[str, Any]]:
    parts = list(parts)
    if len(parts) == 1 and parts[0].HasField("text"):
        return parts[0].text.text
    encoded = []
    for j, part in enumerate(parts):
        item = _encode_user_part(part, f"messages[{i}].content[{j}]")
        if item is not None:
            encoded.append(item)
    return encoded or ""


def _encode_user_part(part: content.Part, param: str) -> dict[str, Any] | None:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"type": "text", "text": part.text.text}
    if kind == "image":
        image = part.image
        url = image.url or data_url(image.media_type, image.data)
        body: dict[str, Any] = {"url": url}
        if image.detail:
            body["detail"] = image.detail
        return {"type": "image_url", "image_url": body}
    if kind == "file":
        return _encode_file(part.file, param)
    return None


def _encode_file(file: content.FilePart, param: str) -> dict[str, Any]:
    if file.text:
        return {"type": "text", "text": file.text}
    fmt = _AUDIO_FORMATS.get(file.media_type)
    if fmt and file.data and not file.filename:
        encoded = base64.b64encode(file.data).decode()
        return {"type": "input_audio", "input_audio": {"data": encoded, "format": fmt}}
    if not file.file_id and not file.data:
        raise RhoneError.invalid(
            "OpenAI chat models take files by id or inline data, not by URL.", param=param
        )
    body: dict[str, str] = {}
    if file.file_id:
        body["file_id"] = file.file_id
    if file.data:
        body["file_data"] = data_url(file.media_type, file.data)
    if file.filename:
        body["filename"] = file.filename
    return {"type": "file", "file": body}


def _encode_tool_results(message: content.Message) -> list[dict[str, Any]]:
    return [
        {
            "role": "tool",
            "tool_call_id": part.tool_result.call_id,
            "content": _joined_text(part.tool_result.content),
        }
        for part in message.parts
        if part.HasField("tool_result")
    ]
