"""Canonical parts to Gemini ``Part`` JSON, shared by the upstream request encoder and the surface
response encoders.

Gemini hangs ``thoughtSignature`` on whichever part it likes: thought summaries, function calls,
and also plain text (Gemini 3 often streams ``{"text": "", "thoughtSignature": ...}`` or puts it on
the first text part). Canonically a signature on a non-thought, non-call part is a ThinkingPart
with no text and only that signature, just before the part it was on. Encoding puts it back on the
next text/media part, or alone on an empty text part when nothing follows.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from rhone.dialects.field_readers import encode_base64
from rhone.dialects.gemini import fields
from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """Which thinking and signatures a receiver may get: upstream keeps only what Gemini made;
    a surface shows everything google-genai can parse."""

    keep_thinking: Callable[[content.ThinkingPart], bool]
    keep_signature: Callable[[str, str], bool]  # (signature, origin) -> keep?


UPSTREAM = SignaturePolicy(
    keep_thinking=lambda t: not t.redacted and t.origin in fields.GEMINI_ORIGINS,
    keep_signature=lambda sig, origin: bool(sig) and origin in fields.GEMINI_ORIGINS,
)
SURFACE = SignaturePolicy(
    keep_thinking=lambda t: not t.redacted,
    keep_signature=lambda sig, origin: bool(sig) and fields.is_base64(sig),
)


def encode_parts(
    parts: Iterable[content.Part],
    policy: SignaturePolicy,
    tool_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending = ""  # a signature waiting for the part it belongs on

    def flush() -> None:
        nonlocal pending
        if pending:
            out.append({"text": "", "thoughtSignature": pending})
            pending = ""

    for part in parts:
        kind = part.WhichOneof("kind")
        if kind == "thinking":
            thinking = part.thinking
            if not policy.keep_thinking(thinking):
                continue
            sig = (
                thinking.signature
                if policy.keep_signature(thinking.signature, thinking.origin)
                else ""
            )
            if thinking.text:
                flush()
                wire_part: dict[str, Any] = {"text": thinking.text, "thought": True}
                if sig:
                    wire_part["thoughtSignature"] = sig
                out.append(wire_part)
            elif sig:
                flush()
                pending = sig
            continue
        if kind == "tool_call":
            flush()
            out.append(function_call(part.tool_call, policy))
            continue
        if kind == "tool_result":
            flush()
            out.append(function_response(part.tool_result, tool_names or {}))
            continue
        encoded = data_part(part)
        if encoded is None:
            continue
        if pending:
            encoded["thoughtSignature"] = pending
            pending = ""
        out.append(encoded)
    flush()
    return out


def function_call(call: content.ToolCallPart, policy: SignaturePolicy) -> dict[str, Any]:
    body: dict[str, Any] = {"name": call.name, "args": args_object(call.arguments)}
    if call.id:
        body["id"] = call.id
    part: dict[str, Any] = {"functionCall": body}
    if policy.keep_signature(call.signature, call.signature_origin):
        part["thoughtSignature"] = call.signature
    return part


def args_object(arguments: str) -> dict[str, Any]:
    """``functionCall.args`` is a Struct: an object. Arguments that are not one (a model cut off
    mid-call, or a non-object JSON value) travel whole under ``"arguments"``."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def function_response(
    result: content.ToolResultPart, tool_names: Mapping[str, str]
) -> dict[str, Any]:
    """A tool result. ``response`` must be an object: a JSON-object result goes as is, any other
    text under ``"result"``, an error under ``"error"`` (the keys Gemini's docs use)."""
    name = result.name or tool_names.get(result.call_id, "")
    if not name:
        raise RhoneError.invalid(
            f"The tool result for call {result.call_id!r} names no tool, and no earlier tool call "
            "has that id; Gemini's functionResponse needs the function name.",
            param="messages",
        )
    text = "\n".join(p.text.text for p in result.content if p.WhichOneof("kind") == "text")
    response: dict[str, Any]
    if result.is_error:
        response = {"error": text}
    else:
        response = {"result": text}
        if text.startswith("{"):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                response = parsed
    body: dict[str, Any] = {"name": name, "response": response}
    if result.call_id:
        body["id"] = result.call_id
    media = [
        p for p in (data_part(p) for p in result.content if p.WhichOneof("kind") != "text") if p
    ]
    if media:
        # Multimodal function responses (Gemini 3): media rides in functionResponse.parts.
        body["parts"] = media
    return {"functionResponse": body}


def data_part(part: content.Part) -> dict[str, Any] | None:
    """Text, image or file as a Part; None for kinds handled elsewhere."""
    kind = part.WhichOneof("kind")
    if kind == "text":
        return {"text": part.text.text}
    if kind == "image":
        image = part.image
        return _media(image.data, image.url, image.media_type, "image/jpeg")
    if kind == "file":
        file = part.file
        if file.data or file.url:
            return _media(file.data, file.url, file.media_type, "application/octet-stream")
        if file.file_id:
            # Gemini Files API uris ("https://.../files/abc") or resource names ("files/abc").
            ref: dict[str, Any] = {"fileUri": file.file_id}
            if file.media_type:
                ref["mimeType"] = file.media_type
            return {"fileData": ref}
        return {"text": file.text}
    return None


def _media(data: bytes, url: str, media_type: str, fallback: str) -> dict[str, Any]:
    if data:
        return {
            "inlineData": {
                "mimeType": media_type or _sniff(data, fallback),
                "data": encode_base64(data),
            }
        }
    if url.startswith("data:"):
        # OpenAI-style data URLs: data:image/png;base64,<payload>.
        header, _, payload = url[5:].partition(",")
        if ";base64" not in header:
            raise RhoneError.invalid("Only base64 data URLs are supported.", param="messages")
        mime = media_type or header.split(";")[0] or fallback
        return {"inlineData": {"mimeType": mime, "data": payload}}
    mime = media_type or mimetypes.guess_type(url)[0] or fallback
    return {"fileData": {"mimeType": mime, "fileUri": url}}


_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF", "application/pdf"),
)


def _sniff(data: bytes, fallback: str) -> str:
    """inlineData needs a mimeType; bytes sent without one are named from their magic number."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return fallback
