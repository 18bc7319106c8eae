"""A prompt's size in tokens, estimated without a tokenizer: about four characters a token (the
usual rule of thumb for BPE tokenizers on English) over the text a request carries, plus a few
tokens a message for its role and separators.

Two services estimate: the providers service answers CountTokens with it when the routed upstream
has no counting endpoint, and the translator sizes a session's context with it before a call
(calibrated per model, services/translator/context_size.py). One estimate, so the two agree."""

from __future__ import annotations

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

MESSAGE_OVERHEAD = 3  # role and separators
IMAGE_CHARS = 85 * 4  # a low-detail image's flat cost in OpenAI's accounting, in characters


def part_chars(part: content.Part) -> int:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return len(part.text.text)
    if kind == "tool_call":
        return len(part.tool_call.name) + len(part.tool_call.arguments)
    if kind == "tool_result":
        return sum(part_chars(p) for p in part.tool_result.content)
    if kind == "thinking":
        return len(part.thinking.text) + len(part.thinking.data)
    if kind == "file":
        return len(part.file.text) or len(part.file.data) // 3
    if kind == "image":
        return IMAGE_CHARS
    return 0


def message_size(message: content.Message) -> int:
    """A message's estimate in tokens."""
    chars = sum(part_chars(part) for part in message.parts)
    return (chars + 3) // 4 + MESSAGE_OVERHEAD


def tools_size(request: gen.GenerateRequest) -> int:
    chars = sum(len(t.name) + len(t.description) + len(t.parameters_json) for t in request.tools)
    return (chars + 3) // 4


def estimate_tokens(request: gen.GenerateRequest) -> int:
    """The whole request's estimate: its messages and its tool declarations."""
    return sum(message_size(m) for m in request.messages) + tools_size(request)
